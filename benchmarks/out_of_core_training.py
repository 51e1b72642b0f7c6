"""Training on a Parquet file about ten times larger than a memory budget, streaming from the file.

Data: ``--rows`` rows (default 4,000,000) of ``--columns`` correlated float64 features (default 64:
2 GB as a table in memory, about as much on disk) in one Parquet file of row groups of 16,384 rows (8 MB),
written under ``--tmp-dir`` (never in the repository) and deleted afterwards. The detector (default
network, ``--epochs`` epochs, seed 0) trains through :func:`aedetect.distributed.fit_distributed`
with ``max_memory=--max-memory`` (default 200MB): the table would take 16 bytes a cell in memory, far
over the budget, so it trains streaming from the file (:mod:`aedetect.out_of_core`).

Measured in a fresh process: its resident memory after importing aedetect and PyTorch (before any
row is read), its peak resident memory over the whole fit (VmHWM from /proc/self/status: Python,
PyTorch, the network, chunks, the shuffle buffer, the held-out scores), and the fit's wall time.

Usage::

    nice -n 10 python benchmarks/out_of_core_training.py [--rows 4000000] [--max-memory 200MB] [--epochs 2]

Writes ``out_of_core_training.md`` and ``out_of_core_training.csv`` under ``--output-dir`` (default
benchmarks/results).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROW_GROUP = 16_384


def make_data(path: Path, rows: int, columns: int) -> None:
    """Correlated normal rows, written a row group at a time (the writer holds one)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(8, columns)) / np.sqrt(8)
    names = [f"x{i}" for i in range(columns)]
    schema = pa.schema([(name, pa.float64()) for name in names])
    with pq.ParquetWriter(path, schema, compression="none") as writer:
        for start in range(0, rows, ROW_GROUP):
            n = min(ROW_GROUP, rows - start)
            values = rng.normal(size=(n, 8)) @ mixing + 0.1 * rng.normal(size=(n, columns))
            writer.write_table(pa.Table.from_arrays(list(values.T), names=names), row_group_size=ROW_GROUP)


def _status(field: str) -> int:
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return 0


def worker(args) -> None:
    """The fit, in this process alone: prints one JSON line."""
    import sklearn.preprocessing  # noqa: F401
    import torch

    import aedetect.out_of_core  # noqa: F401  (the modules a fit imports, before measuring the start)
    from aedetect import AutoencoderDetector
    from aedetect.data.shards import empty_frame
    from aedetect.distributed import fit_distributed

    torch.set_num_threads(1)
    empty_frame(args.data)  # pyarrow's Parquet reader, loaded
    before = _status("VmRSS")
    detector = AutoencoderDetector(epochs=args.epochs, patience=args.epochs, random_state=0, device="cpu")
    started = time.perf_counter()
    fit_distributed(detector, args.data, max_memory=args.max_memory)
    seconds = time.perf_counter() - started
    result = {
        "rss_before_mb": before / 2**20,
        "peak_rss_mb": _status("VmHWM") / 2**20,
        "fit_s": seconds,
        "epochs": detector.history_.stopped_epoch,
        "val_loss": detector.history_.values["val_loss"][-1],
        "threshold": detector.threshold_,
    }
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4_000_000)
    parser.add_argument("--columns", type=int, default=64)
    parser.add_argument("--max-memory", default="200MB")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--tmp-dir", default=tempfile.gettempdir())
    parser.add_argument("--output-dir", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    from aedetect.out_of_core import BYTES_PER_CELL, parse_memory

    folder = Path(tempfile.mkdtemp(prefix="aedetect-out-of-core-", dir=args.tmp_dir))
    try:
        data = folder / "table.parquet"
        started = time.perf_counter()
        make_data(data, args.rows, args.columns)
        written = time.perf_counter() - started
        command = [sys.executable, __file__, "--worker", "--data", str(data), "--max-memory", args.max_memory]
        command += ["--epochs", str(args.epochs)]
        environment = {**os.environ, "OMP_NUM_THREADS": "1"}
        output = subprocess.run(command, check=True, capture_output=True, text=True, env=environment).stdout
        result = json.loads(output.strip().splitlines()[-1])
        file_mb = data.stat().st_size / 2**20
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    budget_mb = parse_memory(args.max_memory) / 2**20
    table_mb = args.rows * args.columns * 8 / 2**20
    row = {
        "rows": args.rows,
        "columns": args.columns,
        "file_mb": round(file_mb, 1),
        "table_mb": round(table_mb, 1),
        "in_memory_training_mb": round(args.rows * args.columns * BYTES_PER_CELL / 2**20, 1),
        "budget_mb": round(budget_mb, 1),
        "epochs": result["epochs"],
        "fit_s": round(result["fit_s"], 1),
        "rss_before_mb": round(result["rss_before_mb"], 1),
        "peak_rss_mb": round(result["peak_rss_mb"], 1),
        "peak_above_start_mb": round(result["peak_rss_mb"] - result["rss_before_mb"], 1),
        "val_loss": round(result["val_loss"], 5),
        "write_s": round(written, 1),
    }
    args.output_dir.mkdir(parents=True, exist_ok=True)
    with open(args.output_dir / "out_of_core_training.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(row))
        writer.writeheader()
        writer.writerow(row)
    lines = [
        "# Training on a Parquet file ten times larger than the memory budget",
        "",
        f"`python benchmarks/out_of_core_training.py --rows {args.rows} --columns {args.columns} "
        f"--max-memory {args.max_memory} --epochs {args.epochs}` on {platform.machine()}, "
        f"{os.cpu_count()} CPUs (shared with other work), one PyTorch thread.",
        "",
        "| rows | columns | file (MB) | table in memory (MB) | in-memory training (MB) | budget (MB) | epochs "
        "| fit (s) | RSS at start (MB) | peak RSS (MB) | peak above start (MB) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {row['rows']:,} | {row['columns']} | {row['file_mb']} | {row['table_mb']} | "
        f"{row['in_memory_training_mb']} | {row['budget_mb']} | {row['epochs']} | {row['fit_s']} | "
        f"{row['rss_before_mb']} | {row['peak_rss_mb']} | {row['peak_above_start_mb']} |",
        "",
        "RSS at start: the process after importing aedetect, PyTorch, scikit-learn and pyarrow's Parquet "
        "reader, before reading a row. Peak RSS: "
        "VmHWM over the whole fit (held-out split, scaler, epochs, score statistics and threshold, each a "
        "pass over the file). Training in memory would hold the table as float64 and twice as float32 "
        "(16 bytes a cell).",
    ]
    (args.output_dir / "out_of_core_training.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
