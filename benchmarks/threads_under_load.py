"""Training time by PyTorch thread count on a busy machine: the default (one thread per core), one
thread, and what the command line picks (``aedetect.cli.common.idle_cpus``: the CPUs that the load
average leaves idle).

Task: ``AutoencoderDetector(epochs=2, batch_size=128)`` fitted on ``--images`` random 28 x 28 images
(the image path, a conv2d network), each fit a fresh Python process (``--worker``). The runs of the
three settings alternate, so that they see the same load; ``--busy N`` starts N busy-looping processes
for the duration, to make a quiet machine busy (0: measure under whatever load there is). The table
gives the median seconds of ``--repeats`` fits and the 1-minute load average around them.

Usage::

    python benchmarks/threads_under_load.py [--images 2000] [--repeats 3] [--busy 0]

Writes ``threads_under_load.md`` under ``--output-dir`` (default benchmarks/results).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def _worker(threads: str, images: int) -> None:
    import numpy as np
    import torch

    from aedetect import AutoencoderDetector
    from aedetect.cli.common import idle_cpus

    torch.set_num_threads({"default": torch.get_num_threads(), "one": 1, "idle": idle_cpus()}[threads])
    data = np.random.default_rng(0).random((images, 28, 28)).astype(np.float32)
    started = time.perf_counter()
    AutoencoderDetector(epochs=2, batch_size=128, device="cpu", random_state=0).fit(data)
    print(f"{time.perf_counter() - started:.3f} {torch.get_num_threads()}")


def _spin() -> None:
    while True:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--busy", type=int, default=0)
    parser.add_argument("--output-dir", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        _worker(args.worker[0], int(args.worker[1]))
        return
    spinners = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(args.busy)]
    for spinner in spinners:
        spinner.start()
    settings = ("default", "one", "idle")
    seconds: dict[str, list[float]] = {name: [] for name in settings}
    threads: dict[str, set[str]] = {name: set() for name in settings}
    loads = [os.getloadavg()[0]]
    try:
        for _ in range(args.repeats):
            for name in settings:
                command = [sys.executable, __file__, "--worker", name, str(args.images)]
                out = subprocess.run(command, capture_output=True, text=True, check=True).stdout.split()
                seconds[name].append(float(out[0]))
                threads[name].add(out[1])
                loads.append(os.getloadavg()[0])
    finally:
        for spinner in spinners:
            spinner.terminate()
    cpus = len(os.sched_getaffinity(0))
    lines = [
        f"# Training time by PyTorch thread count under load ({args.images} images 28 x 28, 2 epochs)",
        "",
        f"{cpus} CPUs for the process; 1-minute load average {min(loads):.1f} to {max(loads):.1f} during the runs"
        f" ({args.busy} busy loops added); median of {args.repeats} fits, each a fresh process.",
        "",
        "| threads | PyTorch threads | fit seconds (median) | all runs |",
        "|---|---|---|---|",
    ]
    for name in settings:
        runs = ", ".join(f"{s:.1f}" for s in seconds[name])
        label = {"default": "PyTorch default", "one": "one", "idle": "idle CPUs (the command line's rule)"}[name]
        lines.append(
            f"| {label} | {'/'.join(sorted(threads[name]))} | {statistics.median(seconds[name]):.1f} | {runs} |"
        )
    table = "\n".join(lines) + "\n"
    print(table)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    (args.output_dir / "threads_under_load.md").write_text(table)


if __name__ == "__main__":
    main()
