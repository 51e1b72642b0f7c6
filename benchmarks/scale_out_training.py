"""Training on one process against two (PyTorch DDP over gloo, launched by torchrun) on the same data.

Data: ``--rows`` rows (default 400,000) of 32 correlated float32 features in ``--files`` Parquet
files (default 8) under ``--tmp-dir`` (never in the repository). Every run trains the same detector
(default network for 32 features, ``--epochs`` epochs, no early stop, batch 2048, seed 0) on all
rows through :func:`aedetect.distributed.fit_distributed`; each process reads its share of the files.

Runs: one process with one thread, one process with two threads (what one process makes of both
cores), and two processes with one thread each. The two-process run walks the same global batches
with the same learning rate, so its validation loss follows the one-process curve, apart by what
floating-point differences grow into over hundreds of Adam steps. The table gives each run's final validation loss and the first epoch at which it
reaches the one-process run's final loss (within 0.1 %): the fit time covers the same steps.
Efficiency = one-process (one thread) time / (cores used x time); on 2 cores the ceiling is 2x.

Protocol: each run is a fresh ``torchrun`` job; the fit is timed on rank 0 (reading the files and
starting the processes are reported apart); ``--repeats`` runs per setting, medians reported.

Usage::

    python benchmarks/scale_out_training.py [--rows 400000] [--epochs 3] [--repeats 3]

Writes ``scale_out_training.md`` and ``scale_out_training.csv`` under ``--output-dir`` (default
benchmarks/results).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

FEATURES = 32
BATCH = 2048


def make_data(folder: Path, rows: int, files: int) -> None:
    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(8, FEATURES)) / np.sqrt(8)
    for index, part in enumerate(np.array_split(np.arange(rows), files)):
        values = rng.normal(size=(len(part), 8)) @ mixing + 0.1 * rng.normal(size=(len(part), FEATURES))
        frame = pd.DataFrame(values.astype(np.float32), columns=[f"x{i}" for i in range(FEATURES)])
        frame.to_parquet(folder / f"part-{index:03d}.parquet")


def worker(args) -> None:
    """One process of a torchrun job: read this process's files, fit, report from rank 0."""
    import torch

    from aedetect import AutoencoderDetector
    from aedetect.distributed import fit_distributed, read_share
    from aedetect.training.distributed import init_from_environment

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    group = init_from_environment("cpu")
    frame, _, keys = read_share(str(args.data), None, 0, 1, group=group)
    read = time.perf_counter() - started
    detector = AutoencoderDetector(
        epochs=args.epochs, batch_size=BATCH, patience=args.epochs, random_state=0, device="cpu"
    )
    started = time.perf_counter()
    fit_distributed(detector, frame, row_keys=keys)
    fit = time.perf_counter() - started
    if group.rank == 0:
        result = {"read_s": read, "fit_s": fit, "val_loss": detector.history_.values["val_loss"]}
        Path(args.result).write_text(json.dumps(result))


def run(data: Path, processes: int, threads: int, epochs: int) -> dict:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with tempfile.TemporaryDirectory() as scratch:
        result = Path(scratch) / "result.json"
        command = [
            str(Path(sys.executable).with_name("torchrun")),
            f"--nproc-per-node={processes}",
            f"--master-port={port}",
            __file__,
            "--worker",
            f"--data={data}",
            f"--threads={threads}",
            f"--epochs={epochs}",
            f"--result={result}",
        ]
        started = time.perf_counter()
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        subprocess.run(command, check=True, env=env, capture_output=True)
        total = time.perf_counter() - started
        return {**json.loads(result.read_text()), "job_s": total}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=400_000)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--tmp-dir", type=Path, default=None)
    parser.add_argument("--output-dir", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    load = os.getloadavg()  # the machine may be shared: how busy it was when the runs started
    if args.worker:
        worker(args)
        return
    settings = [(1, 1), (1, 2), (2, 1)]  # (processes, threads per process)
    rows = []
    with tempfile.TemporaryDirectory(dir=args.tmp_dir) as scratch:
        data = Path(scratch)
        make_data(data, args.rows, args.files)
        runs = {setting: [] for setting in settings}
        for _ in range(args.repeats):  # interleaved, so that a busy spell hits every setting alike
            for setting in settings:
                runs[setting].append(run(data, *setting, args.epochs))
                print(setting, runs[setting][-1], flush=True)
    base = statistics.median(r["fit_s"] for r in runs[(1, 1)])
    target = runs[(1, 1)][0]["val_loss"][-1] * 1.001
    for (processes, threads), results in runs.items():
        fit = statistics.median(r["fit_s"] for r in results)
        rows.append(
            {
                "processes": processes,
                "threads_per_process": threads,
                "fit_s": round(fit, 2),
                "fit_s_runs": " / ".join(f"{r['fit_s']:.1f}" for r in results),
                "read_s": round(statistics.median(r["read_s"] for r in results), 2),
                "job_s": round(statistics.median(r["job_s"] for r in results), 2),
                "final_val_loss": f"{results[0]['val_loss'][-1]:.6f}",
                "epoch_at_target": next(
                    (i + 1 for i, loss in enumerate(results[0]["val_loss"]) if loss <= target), "not reached"
                ),
                "speed_up": round(base / fit, 2),
                "efficiency": round(base / (processes * threads * fit), 2),
            }
        )
    args.output_dir.mkdir(parents=True, exist_ok=True)
    with open(args.output_dir / "scale_out_training.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    header = "| " + " | ".join(rows[0]) + " |"
    lines = [
        "# Training on one process and on two (DDP over gloo, torchrun)",
        "",
        f"{args.rows:,} rows x {FEATURES} features in {args.files} Parquet files; {args.epochs} epochs, batch "
        f"{BATCH}, default network; medians of {args.repeats} runs; {os.cpu_count()} cores "
        f"({platform.processor() or platform.machine()}); 1-minute load average {load[0]:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end.",
        "",
        "fit_s: the fit on rank 0 (the same steps for every run; median, then each run); read_s: reading this process's files; job_s: "
        "the whole torchrun job (process start, imports, reading, fit, exit); epoch_at_target: first epoch whose "
        "validation loss is within 0.1 % of the one-process run's final one. "
        "efficiency = one-process one-thread fit / (cores used x fit).",
        "",
        f"Command: `{' '.join(['python', 'benchmarks/scale_out_training.py', *sys.argv[1:]])}`",
        "",
        header,
        "|" + "---|" * len(rows[0]),
        *("| " + " | ".join(str(v) for v in row.values()) + " |" for row in rows),
        "",
    ]
    (args.output_dir / "scale_out_training.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
