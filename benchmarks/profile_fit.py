"""Where a default fit's time goes: cProfile of ``AutoencoderDetector.fit`` on one table of
``large_tables.py`` (clean protocol, seed 0), in a process already warmed by a small fit.

The warm-up fit pays what only a process's first fit pays (PyTorch's optimizer imports
``torch._dynamo`` on its first step); its seconds are printed apart. Then the fit and the score of
the test rows are timed without the profiler, and the fit once more under it.

Usage::

    python benchmarks/profile_fit.py [--set smtp] [--rows 200000] [--params '{"epochs": 1}'] [--top 25] [--tag T]

Writes ``profile_<set>[_T].txt`` under ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import platform
import pstats
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from adbench import RESULTS, clean_split, write_atomically  # noqa: E402
from large_tables import load  # noqa: E402

from aedetect import AutoencoderDetector  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--set", default="smtp", help="shuttle, smtp, kddcup99 or generated")
    parser.add_argument("--rows", type=int, default=200_000, help="rows of the generated table")
    parser.add_argument("--params", default="{}", help="JSON of aedetect parameters (default: none = defaults)")
    parser.add_argument("--top", type=int, default=25, help="profile lines to print, by cumulative time")
    parser.add_argument("--tag", default="")
    parser.add_argument("--output-dir", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    params = json.loads(args.params)
    X, y = load(args.set, args.rows, 0)
    X_train, X_test, _ = clean_split(X, y, 0)

    started = time.perf_counter()
    AutoencoderDetector(random_state=0, device="cpu", epochs=1).fit(np.random.default_rng(0).normal(size=(256, 4)))
    warm_up = time.perf_counter() - started
    started = time.perf_counter()
    detector = AutoencoderDetector(random_state=0, device="cpu", **params).fit(X_train)
    fit = time.perf_counter() - started
    started = time.perf_counter()
    detector.decision_function(X_test)
    score = time.perf_counter() - started

    profile = cProfile.Profile()
    profile.enable()
    AutoencoderDetector(random_state=0, device="cpu", **params).fit(X_train)
    profile.disable()
    stream = io.StringIO()
    pstats.Stats(profile, stream=stream).sort_stats("cumulative").print_stats(args.top)

    command = "python benchmarks/profile_fit.py " + " ".join(sys.argv[1:] if argv is None else argv)
    text = "\n".join(
        [
            f"Command: {command}",
            f"Date: {date.today().isoformat()}; Python {platform.python_version()}; parameters: {params or 'defaults'}",
            f"Set: {args.set}, {len(X_train)} training rows x {X_train.shape[1]} columns, {len(X_test)} test rows",
            f"Warm-up fit (256 x 4, one epoch; a process's first fit): {warm_up:.2f} s",
            f"Fit: {fit:.3f} s; score of the test rows: {score:.3f} s (no profiler); epochs run: "
            f"{detector.history_.stopped_epoch}",
            "",
            "cProfile of the fit once more:",
            stream.getvalue().strip(),
            "",
        ]
    )
    print(text)
    stem = f"profile_{args.set}" + (f"_{args.tag}" if args.tag else "")
    write_atomically(args.output_dir / f"{stem}.txt", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
