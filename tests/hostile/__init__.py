"""The hostile-input matrix: one case per way a user (or an attacker) can hand the tool bad input.

Each area keeps its cases in a module of this package (``persistence``, ``data``, ``report``,
``service``) as a list ``CASES`` of :class:`CliCase`; ``tests/test_hostile.py`` runs them all through
the real command line in a subprocess and asserts the same things for every one: the exit code, one
line on standard error naming the problem, no traceback, and every file in the case's folder
byte-identical afterwards with nothing added (no partial output, no input overwritten).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass
class Context:
    """What a case's ``build`` gets: its own folder and copies of trained models to point at."""

    folder: Path
    models: dict[str, Path]

    def model(self, kind: str = "table") -> Path:
        """A private copy of a trained model folder (``table``, ``image`` or ``ensemble``)."""
        target = self.folder / f"{kind}-model"
        if not target.exists():
            shutil.copytree(self.models[kind], target)
        return target

    def csv(self, name: str, frame: pd.DataFrame | str) -> Path:
        path = self.folder / name
        if isinstance(frame, str):
            path.write_text(frame)
        else:
            frame.to_csv(path, index=False)
        return path

    def normal(self, n: int = 60, seed: int = 0) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        base = rng.normal(size=(n, 2))
        values = np.column_stack([base, base @ np.array([[1.0, 0.5], [-0.5, 1.0]])])
        return pd.DataFrame(values, columns=["a", "b", "c", "d"])


@dataclass(frozen=True)
class CliCase:
    """One row of the matrix.

    ``build(ctx)`` makes the case's files under ``ctx.folder`` and returns the arguments after
    ``aedetect``. ``expect`` are fragments that the one error line must hold (case-insensitive).
    ``before`` says what the tool did before the fix (for the record; not asserted).
    """

    name: str
    build: Callable[[Context], list[str]]
    expect: tuple[str, ...]
    before: str = ""
    code: int = 2
    stdin: bytes | None = None
    timeout: float = 120.0
    extra: dict = field(default_factory=dict)


def snapshot(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones included) with the SHA-256 of its bytes."""
    out = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            rel = str(path.relative_to(folder))
            if path.is_symlink():
                out[rel] = "link:" + os.readlink(path)
            elif path.is_file():
                out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
            elif path.is_dir():
                out[rel] = "dir"
            else:
                out[rel] = "special"
    return out


def run_cli(args: list[str], cwd: Path, stdin: bytes | None = None, timeout: float = 120.0):
    """Run ``aedetect ARGS`` as a user would: a fresh interpreter, no terminal."""
    env = {**os.environ, "COLUMNS": "200", "PYTHONWARNINGS": ""}
    return subprocess.run(
        [sys.executable, "-m", "aedetect", *args],
        cwd=cwd,
        input=stdin if stdin is not None else b"",
        capture_output=True,
        timeout=timeout,
        env=env,
    )


def assert_clean_refusal(result, expect: tuple[str, ...], code: int = 2) -> str:
    """Exit ``code``, exactly one line on stderr holding every fragment, no traceback; returns the line."""
    stderr = result.stderr.decode("utf-8", "replace")
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert result.returncode == code, f"exit {result.returncode}, expected {code}; stderr:\n{stderr}"
    assert "Traceback" not in stderr, stderr
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{stderr}"
    for fragment in expect:
        assert fragment.lower() in lines[0].lower(), f"{fragment!r} not in {lines[0]!r}"
    return lines[0]
