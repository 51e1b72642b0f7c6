"""Scoring throughput: in memory against PyOD's AutoEncoder, and CSV / Parquet files against pyarrow.

Tasks (all rows are ``numpy.random.default_rng(seed).normal`` with 32 features, float32)
---------------------------------------------------------------------------------------
in-memory
    ``decision_function`` on ``--rows`` rows (default 1,000,000) already in memory, for aedetect's
    default score (``latent_knn``) and ``score="reconstruction"``, and PyOD's ``AutoEncoder``
    (its defaults: hidden 64-32, batch norm) with its default ``decision_function(X)`` (batches of
    32) and with ``batch_size=8192``. Each detector is trained beforehand on 20,000 rows (``--train-rows``; a few
    epochs: training quality does not change scoring speed) and only scoring is timed.
csv / parquet
    ``--file-rows`` rows (default 10,000,000) in a CSV and a Parquet file under ``--tmp-dir`` (never
    in the repository), scored with ``aedetect.batch.files.score_file`` (CSV -> CSV with every input
    column plus score and flag; Parquet -> Parquet), against pyarrow reading and writing the same
    file in the same streaming way (the floor any scorer pays), for both scores. Scoring also runs on
    files of ``--small-file-rows`` rows (default 1,000,000) to show that peak memory does not grow
    with the file (compare the peak RSS column).

Protocol: every measurement is a fresh Python process (``--worker``) that loads the saved model,
builds its input, times only the scoring call ``--repeats`` times and reports the median seconds
and its peak resident memory (``VmHWM``). Threads: PyTorch's default (one per core).

Usage::

    python benchmarks/throughput.py [--rows 1000000] [--file-rows 10000000] [--repeats 3] [--skip-files]

Writes ``throughput.md`` and ``throughput.csv`` under ``--output-dir`` (default benchmarks/results).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

FEATURES = 32
TRAIN_ROWS = 20_000
RESULTS = Path(__file__).parent / "results"


def rows_of(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, FEATURES)).astype(np.float32)


def peak_mb() -> float:
    """Peak resident memory of this process (VmHWM; ru_maxrss would carry the parent's over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(call, repeats: int) -> float:
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


# -- workers (one measurement per process) ------------------------------------------------------------
def worker(task: str, args: argparse.Namespace) -> dict:
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    tmp = Path(args.tmp_dir)
    if task.startswith("aedetect-memory:"):
        from aedetect import load

        detector = load(tmp / "model").set_params(score=task.partition(":")[2])
        X = rows_of(args.rows)
        detector.decision_function(X[:10_000])  # warm up
        return {"seconds": timed(lambda: detector.decision_function(X), args.repeats), "rows": args.rows}
    if task.startswith("pyod"):
        from pyod.models.auto_encoder import AutoEncoder

        peer = AutoEncoder(epoch_num=3, contamination=0.01, random_state=0, verbose=0, device="cpu")
        peer.fit(rows_of(TRAIN_ROWS, seed=0))
        X = rows_of(args.rows)
        batch = None if task == "pyod-default" else 8192
        return {"seconds": timed(lambda: peer.decision_function(X, batch_size=batch), args.repeats), "rows": args.rows}
    if task.startswith(("aedetect-csv", "aedetect-parquet")):
        from aedetect import load
        from aedetect.batch.files import score_file

        kind, _, score = task.partition(":")
        detector = load(tmp / "model").set_params(score=score)
        suffix = "parquet" if "parquet" in kind else "csv"
        size = "small" if kind.endswith("small") else "big"
        seconds = timed(lambda: score_file(detector, tmp / f"{size}.{suffix}", tmp / f"out.{suffix}"), args.repeats)
        return {"seconds": seconds, "rows": args.small_file_rows if size == "small" else args.file_rows}
    if task == "pyarrow-csv":

        def copy_csv():
            with pacsv.open_csv(tmp / "big.csv", read_options=pacsv.ReadOptions(block_size=16 << 20)) as reader:
                with pacsv.CSVWriter(tmp / "copy.csv", reader.schema) as writer:
                    for batch in reader:
                        writer.write_batch(batch)

        return {"seconds": timed(copy_csv, args.repeats), "rows": args.file_rows}
    if task == "pyarrow-parquet":

        def copy_parquet():
            source = pq.ParquetFile(tmp / "big.parquet")
            with pq.ParquetWriter(tmp / "copy.parquet", source.schema_arrow) as writer:
                for batch in source.iter_batches(batch_size=65536):
                    writer.write_batch(batch)

        return {"seconds": timed(copy_parquet, args.repeats), "rows": args.file_rows}
    raise ValueError(f"unknown task {task!r}")


def run_worker(task: str, args: argparse.Namespace) -> dict:
    command = [
        sys.executable,
        __file__,
        "--worker",
        task,
        "--rows",
        str(args.rows),
        "--file-rows",
        str(args.file_rows),
        "--small-file-rows",
        str(args.small_file_rows),
        "--repeats",
        str(args.repeats),
        "--tmp-dir",
        str(args.tmp_dir),
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{task} failed:\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(
        f"  {task}: {result['seconds']:.3f} s, {result['rows'] / result['seconds']:,.0f} rows/s, "
        f"peak {result['peak_mb']:.0f} MB",
        flush=True,
    )
    return result


# -- set-up -------------------------------------------------------------------------------------------
def prepare(args: argparse.Namespace) -> None:
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from aedetect import AutoencoderDetector

    tmp = Path(args.tmp_dir)
    tmp.mkdir(parents=True, exist_ok=True)
    if not (tmp / "model").is_dir():
        AutoencoderDetector(epochs=3, random_state=0).fit(rows_of(args.train_rows, seed=0)).save(tmp / "model")
    if args.skip_files:
        return
    names = [f"x{i}" for i in range(FEATURES)]
    for name, n in (("big", args.file_rows), ("small", args.small_file_rows)):
        marker = tmp / f"{name}.rows"
        if marker.is_file() and marker.read_text() == str(n):
            continue
        print(f"writing {n:,} rows to {tmp / name}.csv and .parquet", flush=True)
        schema = pa.schema([(c, pa.float64()) for c in names])
        with (
            pacsv.CSVWriter(tmp / f"{name}.csv", schema) as csv_out,
            pq.ParquetWriter(tmp / f"{name}.parquet", schema) as pq_out,
        ):
            for start in range(0, n, 500_000):
                block = np.round(rows_of(min(500_000, n - start), seed=start + 7).astype(np.float64), 6)
                table = pa.Table.from_arrays([pa.array(block[:, j]) for j in range(FEATURES)], schema=schema)
                csv_out.write_table(table)
                pq_out.write_table(table)
        marker.write_text(str(n))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--file-rows", type=int, default=10_000_000)
    parser.add_argument("--small-file-rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-files", action="store_true")
    parser.add_argument("--skip-pyod", action="store_true")
    parser.add_argument(
        "--train-rows",
        type=int,
        default=TRAIN_ROWS,
        help="rows aedetect's model is trained on (32 independent normal columns: their intrinsic dimension "
        "is above 20, so the model keeps no input rows; the model is reused from --tmp-dir when there)",
    )
    parser.add_argument("--tmp-dir", default="/tmp/aedetect-throughput")
    parser.add_argument("--output-dir", type=Path, default=RESULTS)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        result = worker(args.worker, args)
        print(json.dumps({**result, "peak_mb": peak_mb()}))
        return

    prepare(args)
    default, fast = "aedetect (default score latent_knn)", "aedetect score=reconstruction"
    tasks = [
        ("in-memory", "aedetect-memory:latent_knn", default, "pyod-default"),
        ("in-memory", "aedetect-memory:reconstruction", fast, "pyod-default"),
    ]
    if not args.skip_pyod:
        tasks += [
            ("in-memory", "pyod-default", "PyOD AutoEncoder decision_function(X)", None),
            ("in-memory", "pyod-batch8192", "PyOD AutoEncoder decision_function(X, batch_size=8192)", None),
        ]
    if not args.skip_files:
        for kind, name in (("csv", "CSV -> CSV"), ("parquet", "Parquet -> Parquet")):
            floor = f"pyarrow-{kind}"
            tasks += [
                (name, f"aedetect-{kind}:latent_knn", default, floor),
                (name, f"aedetect-{kind}:reconstruction", fast, floor),
                (name, floor, "pyarrow read + write of the same file (floor)", None),
                (
                    f"{name}, {args.small_file_rows:,}-row file (peak memory)",
                    f"aedetect-{kind}-small:reconstruction",
                    fast,
                    None,
                ),
            ]
    results = {}
    for _, task, label, _ in tasks:
        print(f"{label}:", flush=True)
        results[task] = run_worker(task, args)
    write_tables(args, tasks, results)


def write_tables(args: argparse.Namespace, tasks: list, results: dict) -> None:
    rows = []
    for kind, task, label, peer in tasks:
        r = results[task]
        ratio = ""
        if peer in results:  # time relative to the peer: < 1 is faster
            ratio = f"{r['seconds'] / results[peer]['seconds']:.3f}"
        rows.append(
            {
                "task": kind,
                "system": label,
                "rows": r["rows"],
                "median_seconds": f"{r['seconds']:.3f}",
                "rows_per_second": f"{r['rows'] / r['seconds']:.0f}",
                "peak_rss_mb": f"{r['peak_mb']:.0f}",
                "time_vs_peer": ratio,
                "peer": peer or "",
            }
        )
    args.output_dir.mkdir(parents=True, exist_ok=True)
    with open(args.output_dir / "throughput.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    header = (
        "| task | system | rows | median s | rows/s | peak RSS MB | time vs peer |\n|---|---|---|---|---|---|---|\n"
    )
    body = "".join(
        f"| {r['task']} | {r['system']} | {r['rows']:,} | {r['median_seconds']} | {int(r['rows_per_second']):,} "
        f"| {r['peak_rss_mb']} | {r['time_vs_peer'] and r['time_vs_peer'] + ' (' + r['peer'] + ')'} |\n"
        for r in rows
    )
    command = "python benchmarks/throughput.py " + " ".join(sys.argv[1:])
    text = (
        f"# Scoring throughput\n\n{header}{body}\n'time vs peer' is this row's median time divided by the "
        f"peer's (below 1 = faster).\n\nCommand: `{command.strip()}`; {args.repeats} repeats (median); "
        f"{datetime.now(UTC):%Y-%m-%d}; {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}.\n"
    )
    (args.output_dir / "throughput.md").write_text(text)
    print("\n" + text)


if __name__ == "__main__":
    main()
