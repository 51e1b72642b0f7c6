"""How often a 2-process ``aedetect train`` job under torchrun ends with a process killed by a signal.

The job is the one ``tests/test_distributed.py`` runs: 300 rows of 4 features in 3 Parquet files
(under ``--tmp-dir``), ``torchrun --nproc-per-node 2 -m aedetect train DIR -o MODEL --epochs 2
--hidden-dims 8 --latent-dim 2 --device cpu``, one job at a time, ``--runs`` times. ``--load N`` keeps
N busy-loop processes running meanwhile: a process's exit races with PyTorch's gloo threads, and a
loaded machine is where that race was lost. ``--source`` runs the package from another checkout's
``src`` folder (``PYTHONPATH``), for a before/after comparison in one run.

Usage::

    python benchmarks/torchrun_exit.py [--runs 40] [--load 2] [--source OTHER_CHECKOUT/src]

Writes ``torchrun_exit.md`` under ``--output-dir`` (default benchmarks/results).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from adbench import write_atomically  # noqa: E402

SPIN = "while True: pass"


def write_data(folder: Path) -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(size=(300, 2))
    values = np.column_stack([base, base @ np.array([[1.0, 0.5], [-0.5, 1.0]]) + 0.1 * rng.normal(size=(300, 2))])
    table = pd.DataFrame(values, columns=["a", "b", "c", "d"])
    for index, rows in enumerate(np.array_split(np.arange(300), 3)):
        table.iloc[rows].to_parquet(folder / f"part-{index}.parquet")


def run_jobs(data: Path, folder: Path, runs: int, source: str | None) -> tuple[int, int, list[str]]:
    """(jobs that failed, jobs with a process killed by SIGABRT, the first line of each failure)."""
    torchrun = Path(sys.executable).with_name("torchrun")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if source:
        env["PYTHONPATH"] = source
    failed, aborted, lines = 0, 0, []
    for run in range(runs):
        output = folder / f"model-{run}"
        command = [
            str(torchrun), "--nproc-per-node", "2", "--master-port", str(29400 + run % 500), "-m", "aedetect",
            "train", str(data), "-o", str(output), "--epochs", "2", "--hidden-dims", "8", "--latent-dim", "2",
            "--device", "cpu",
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env, cwd=folder)
        shutil.rmtree(output, ignore_errors=True)
        if done.returncode != 0:
            failed += 1
            aborted += "SIGABRT" in done.stderr
            lines.append(next((line for line in done.stderr.splitlines() if line.strip()), ""))
        print(f"run {run + 1}: exit {done.returncode}", flush=True)
    return failed, aborted, lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--load", type=int, default=2, help="busy-loop processes kept running meanwhile")
    parser.add_argument("--source", help="run the package from this src folder instead of the installed one")
    parser.add_argument("--output-dir", type=Path, default=HERE / "results")
    parser.add_argument("--tmp-dir", type=Path, default=Path(tempfile.gettempdir()) / "aedetect-torchrun-exit")
    args = parser.parse_args(argv)
    shutil.rmtree(args.tmp_dir, ignore_errors=True)
    data = args.tmp_dir / "data"
    data.mkdir(parents=True)
    write_data(data)
    spinners = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(args.load)]
    try:
        failed, aborted, lines = run_jobs(data, args.tmp_dir, args.runs, args.source)
    finally:
        for spinner in spinners:
            spinner.kill()
    command = "python benchmarks/torchrun_exit.py " + " ".join(sys.argv[1:] if argv is None else argv)
    text = "\n".join(
        [
            "# torchrun jobs of `aedetect train`: how many ended with a process killed",
            "",
            f"Command: `{command}`  ",
            f"Date: {date.today().isoformat()}; machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}",
            "",
            "| package | jobs | failed | a process killed by SIGABRT |",
            "|---|---|---|---|",
            f"| {args.source or 'installed'} | {args.runs} | {failed} | {aborted} |",
            "",
            *(f"- first stderr line of a failure: `{line}`" for line in sorted(set(lines))),
            "",
        ]
    )
    print(text)
    write_atomically(args.output_dir / "torchrun_exit.md", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
