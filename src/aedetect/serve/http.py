"""HTTP plumbing of the scoring service: body limits, strict JSON, one error shape, no 500 that drops a connection.

Every error the service gives is ``{"detail": "<one line naming the problem and the fix>"}``; a request
that fails validation also carries ``errors`` (where and what, never the offending value: a value
echoed back could be NaN, a 400-digit number or 16 MB of text, none of which encodes as JSON).
"""

from __future__ import annotations

import json
import logging
import math
import re
import sys

from fastapi import HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

logger = logging.getLogger("aedetect.serve")
#: Digits of the largest integer that fits a 64-bit float (about 1.8e308): any longer one cannot be scored.
MAX_INT_DIGITS = 309
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89abcdefABCDEF]")


def _error_body(detail: str) -> bytes:
    return json.dumps({"detail": detail}, ensure_ascii=True, allow_nan=False).encode()


class BodyLimit:
    """Answer 413 to a request whose body is larger than ``max_bytes``.

    A declared ``Content-Length`` over the limit is refused before reading; a body sent in chunks is
    read up to the limit and then refused, so no request can make the server hold more than
    ``max_bytes`` of it.
    """

    def __init__(self, app, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = int(max_bytes)

    async def _refuse(self, send, text: str, status: int = 413) -> None:
        body = _error_body(text)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        too_large = f"The request body is larger than this server accepts ({self.max_bytes} bytes); send fewer rows per request."
        if declared is not None:
            if not declared.isdigit():
                await self._refuse(send, "The Content-Length header is not a number.", 400)
                return
            if int(declared) > self.max_bytes:
                await self._refuse(send, too_large)
                return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(send, too_large)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body, delivered = b"".join(chunks), False

        async def replay():
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


class ServerErrorsAsJSON:
    """Last resort: an unexpected error becomes a JSON 500 and the connection stays open.

    Starlette's own handler re-raises after answering, and uvicorn then closes the keep-alive
    connection; a client's next request on it fails. Every error a request can cause is a 4xx raised
    before this point; this only keeps a bug from costing the client its connection.
    """

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watch(message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watch)
        except Exception:
            logger.exception("Unexpected error answering %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise
            body = _error_body(
                "The server failed to answer this request (a bug, logged on the server); "
                "please report it with the request."
            )
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
                }
            )
            await send({"type": "http.response.body", "body": body})


def _refuse_constant(token: str):
    raise HTTPException(
        400, f"The body holds {token}, which is not JSON; send null for a missing value (every number must be finite)."
    )


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise HTTPException(
            400, f"The number {text[:40]} is too large; every number must fit a 64-bit float (at most about 1.8e308)."
        )
    return value


def _parse_int(text: str) -> int:
    digits = len(text.lstrip("-"))
    value = int(text) if digits <= MAX_INT_DIGITS else None
    if value is None or abs(value) > sys.float_info.max:
        raise HTTPException(
            400,
            f"The number {text[:20]}... ({digits} digits) is too large; every number must fit "
            "a 64-bit float (at most about 1.8e308).",
        )
    return value


def strict_json(body: bytes):
    """Parse a request body as RFC 8259 JSON, or raise a 400 that says what is wrong with it.

    Python's own parser takes ``NaN`` and ``Infinity`` tokens, reads ``1e400`` as infinity and keeps
    integers of any length; none of them is a number a model can score or a response can carry, so
    they are refused here, where the message can name them.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise HTTPException(400, f"The body is not UTF-8 text (byte {error.start}); send JSON in UTF-8.") from None
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_parse_float, parse_int=_parse_int)
    except RecursionError:
        raise HTTPException(
            400, 'The JSON body is nested too deeply; send {"records": [{feature: value, ...}]}.'
        ) from None
    except json.JSONDecodeError as error:
        raise HTTPException(
            400,
            f"The body is not valid JSON ({error.msg} at line {error.lineno} column "
            f'{error.colno}); send {{"records": [...]}} or {{"columns": {{...}}}}.',
        ) from None
    if _SURROGATE_ESCAPE.search(body):  # a lone \ud800 parses, but no response could quote it back
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise HTTPException(
                400, "The body holds a lone UTF-16 surrogate escape (such as \\ud800); send valid Unicode text."
            ) from None
    return value


def is_json_media_type(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


class StrictJSONRequest(Request):
    async def json(self):
        if not hasattr(self, "_json"):
            self._json = strict_json(await self.body())
        return self._json


class StrictJSONRoute(APIRoute):
    """A route whose JSON body is parsed strictly and must be sent as ``application/json`` (415 otherwise)."""

    def get_route_handler(self):
        handler = super().get_route_handler()
        takes_body = self.body_field is not None

        async def route(request: Request):
            request = StrictJSONRequest(request.scope, request.receive)
            if takes_body and await request.body() and not is_json_media_type(request.headers.get("content-type", "")):
                raise HTTPException(415, "Send the body as JSON with the header Content-Type: application/json.")
            return await handler(request)

        return route


def _place(loc) -> str:
    parts = [str(part)[:60] for part in loc]
    parts = [part if part.isprintable() else repr(part) for part in parts]  # a key may hold a newline
    if parts and parts[0] == "body":
        parts = parts[1:]
    return ".".join(parts) or "body"


def validation_error(request: Request, error: RequestValidationError) -> JSONResponse:
    """422 with one line naming what is wrong and where; ``errors`` lists each problem without its value."""
    problems = [
        {
            "loc": [part if isinstance(part, int) else str(part)[:60] for part in e.get("loc", ())],
            "msg": str(e.get("msg", ""))[:300],
            "type": str(e.get("type", "")),
        }
        for e in error.errors()
    ]
    shown = "; ".join(f"{_place(p['loc'])}: {p['msg']}" for p in problems[:3])
    more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
    detail = f"Invalid request: {shown}{more}. See /docs for the request's shape."
    return JSONResponse({"detail": detail, "errors": problems[:50]}, status_code=422)


__all__ = ["BodyLimit", "ServerErrorsAsJSON", "StrictJSONRoute", "strict_json", "validation_error"]
