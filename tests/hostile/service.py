"""The ``serve`` command: keys that are no key, or that no client could send, on a public address.

Each refusal happens before the server starts (a regression would start serving, so the cases carry a
short timeout).
"""

from __future__ import annotations

from hostile import CliCase, Context


def _serve(key: str):
    def build(ctx: Context) -> list:
        return ["serve", ctx.model(), "--host", "0.0.0.0", "--port", "9", "--api-key", key]

    return build


CASES = [
    CliCase(
        "serve-empty-api-key",
        _serve(""),
        ("API key", "empty", "--allow-unauthenticated"),
        before="passed the guard: served on 0.0.0.0 with the empty key",
        timeout=60,
    ),
    CliCase(
        "serve-blank-api-key",
        _serve("   "),
        ("API key", "empty"),
        before="passed the guard: served on 0.0.0.0 with a blank key",
        timeout=60,
    ),
    CliCase(
        "serve-non-ascii-api-key",
        _serve("schlüssel"),
        ("API key", "printable ASCII"),
        before="served with a key no HTTP client can send",
        timeout=60,
    ),
]
