"""Scale out: scoring a Parquet dataset of many files on this machine, on Dask and on Spark.

Scoring
-------
``--rows`` rows (default 10,000,000; ``numpy.random.default_rng(seed).normal``, 32 float32 features and
an int64 ``id``) in ``--files`` Parquet files (default 100) under ``--tmp-dir`` (never in the
repository), scored with ``aedetect.batch.cluster_files.score_files`` into one Parquet part per file
(keyed by ``id``), by

- ``local``: this process, one file after another (PyTorch's default threads: one per core);
- ``dask-1`` and ``dask-2``: a ``distributed.LocalCluster`` of 1 and 2 worker processes, one thread each,
  set up as ``score_files`` starts one (Dask's statistical profiler off); ``dask-1, profiler on``: with
  Dask's defaults;
- ``spark``: Spark ``--spark-master`` (default ``local[2]``).

The model is the default ``AutoencoderDetector`` trained on 20,000 rows for a few epochs (training
quality does not change scoring speed). Clusters and the Spark session are started once and their
start-up is reported apart; each timed run scores every file into a new folder. ``local-1t`` is the same
with PyTorch on one thread, as each Dask and Spark worker runs. Reported: the median
of ``--repeats`` runs, rows/s, the ratio to ``local``, and the engine's overhead per partition: the
wall time per file of scoring ``--tiny-files`` one-row files (scheduling a task, loading nothing new,
reading and writing one small file). On 2 cores the ceiling is 2x the one-worker rate.

Usage::

    python benchmarks/scale_out.py [--rows 10000000] [--files 100] [--repeats 3] [--skip-spark]

Writes its section of ``scale_out.md`` under ``--output-dir`` (default benchmarks/results), keeping
the file's other sections, and ``scale_out_scoring.csv``.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import re
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

FEATURES = 32
TRAIN_ROWS = 20_000
RESULTS = Path(__file__).parent / "results"


def make_dataset(folder: Path, rows: int, files: int, seed: int = 1) -> list[str]:
    """``rows`` rows in ``files`` Parquet files of nearly equal size, written a file at a time."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    bounds = np.linspace(0, rows, files + 1).astype(np.int64)
    names = []
    for number, (start, stop) in enumerate(zip(bounds[:-1], bounds[1:], strict=True)):
        values = rng.normal(size=(stop - start, FEATURES)).astype(np.float32)
        columns = {f"x{j}": values[:, j] for j in range(FEATURES)}
        table = pa.table({"id": np.arange(start, stop, dtype=np.int64), **columns})
        name = folder / f"rows-{number:05d}.parquet"
        pq.write_table(table, name)
        names.append(str(name))
    return names


def train_model(path: Path) -> None:
    import pandas as pd

    from aedetect import AutoencoderDetector

    values = np.random.default_rng(0).normal(size=(TRAIN_ROWS, FEATURES)).astype(np.float32)
    frame = pd.DataFrame(values, columns=[f"x{j}" for j in range(FEATURES)])
    AutoencoderDetector(epochs=3, random_state=0).fit(frame).save(path)


def timed_runs(score, files: list[str], work: Path, repeats: int) -> list[float]:
    """Seconds of ``repeats`` runs of ``score(files, output_folder)``, each into a new folder."""
    seconds = []
    for repeat in range(repeats):
        output = work / f"out-{repeat}"
        start = time.perf_counter()
        score(files, str(output))
        seconds.append(time.perf_counter() - start)
        shutil.rmtree(output)
    return seconds


# -- scoring: local, Dask (1 and 2 workers), Spark --------------------------------------------------------
def bench_scoring(args, work: Path) -> list[dict]:
    import torch

    from aedetect.batch.cluster_files import score_files

    model = work / "model"
    train_model(model)
    files = make_dataset(work / "data", args.rows, args.files)
    tiny = make_dataset(work / "tiny", args.tiny_files, args.tiny_files, seed=2)
    print(f"{args.rows:,} rows in {args.files} files; {args.tiny_files} one-row files", flush=True)

    def scorer(**engine):
        return lambda names, output: score_files(str(model), names, output, id_column="id", **engine)

    results = []

    def measure(name: str, score, startup: float = 0.0, workers: str = "") -> None:
        score(tiny[:2], str(work / "warm"))  # the model loads once per worker: not part of the timings
        shutil.rmtree(work / "warm")
        seconds = timed_runs(score, files, work, args.repeats)
        per_file = timed_runs(score, tiny, work, args.repeats)
        row = {
            "engine": name,
            "workers": workers,
            "rows": args.rows,
            "files": args.files,
            "median_s": statistics.median(seconds),
            "rows_per_s": args.rows / statistics.median(seconds),
            "per_partition_ms": 1000 * statistics.median(per_file) / len(tiny),
            "startup_s": startup,
            "runs_s": " ".join(f"{s:.2f}" for s in seconds),
        }
        results.append(row)
        print(
            f"{name:8} {row['median_s']:8.2f} s  {row['rows_per_s']:12,.0f} rows/s  "
            f"{row['per_partition_ms']:7.1f} ms/partition",
            flush=True,
        )

    measure("local", scorer(engine="local"), workers=f"1 process, {torch.get_num_threads()} threads")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the one-core baseline that each engine's worker runs as
    try:
        measure("local-1t", scorer(engine="local"), workers="1 process, 1 thread")
    finally:
        torch.set_num_threads(threads)
    if not args.skip_dask:
        import dask
        from distributed import Client, LocalCluster

        from aedetect.batch.cluster_files import LOCAL_DASK_CONFIG

        # As score_files starts a local cluster (LOCAL_DASK_CONFIG), and once with Dask's defaults.
        for name, workers, config in [("dask-1", 1, LOCAL_DASK_CONFIG), ("dask-2", 2, LOCAL_DASK_CONFIG),
                                      ("dask-1, profiler on", 1, {})]:  # fmt: skip
            start = time.perf_counter()
            with (
                dask.config.set(config),
                LocalCluster(
                    n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
                ) as cluster,
                Client(cluster),
            ):
                startup = time.perf_counter() - start
                scheduler = cluster.scheduler_address
                measure(name, scorer(engine="dask", scheduler=scheduler), startup, f"{workers} x 1 thread")
    if not args.skip_spark:
        from pyspark.sql import SparkSession

        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        start = time.perf_counter()
        spark = (
            SparkSession.builder.master(args.spark_master)
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .getOrCreate()
        )
        spark.sparkContext.setLogLevel("ERROR")
        startup = time.perf_counter() - start
        try:
            measure("spark", scorer(engine="spark"), startup, args.spark_master)
        finally:
            spark.stop()
    local = results[0]["rows_per_s"]
    for row in results:
        row["ratio_to_local"] = row["rows_per_s"] / local
    return results


def scoring_section(args, results: list[dict]) -> str:
    by_name = {row["engine"]: row for row in results}
    lines = [
        "## Scoring: local, Dask and Spark",
        "",
        f"{args.rows:,} rows x {FEATURES} float32 features in {args.files} Parquet files, scored into one "
        "Parquet part per file (rows keyed by `id`); default `AutoencoderDetector` (latent_knn score). "
        f"Median of {args.repeats} runs; per partition: wall time per file over {args.tiny_files} one-row files.",
        "",
        "| engine | workers | median s | rows/s | ratio to local | ms per partition | start-up s |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in results:
        lines.append(
            f"| {row['engine']} | {row['workers']} | {row['median_s']:.2f} | {row['rows_per_s']:,.0f} | "
            f"{row['ratio_to_local']:.2f} | {row['per_partition_ms']:.1f} | {row['startup_s']:.1f} |"
        )
    if "dask-1" in by_name and "dask-2" in by_name:
        speedup = by_name["dask-2"]["rows_per_s"] / by_name["dask-1"]["rows_per_s"]
        lines += ["", f"Dask, 2 workers against 1: {speedup:.2f}x, a parallel efficiency of {speedup / 2:.0%}."]
    lines += [
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; load average {args.load:.1f} before the run, "
        f"{os.getloadavg()[0]:.1f} after; {datetime.now(UTC):%Y-%m-%d}. Command: `{command_line()}`.",
    ]
    return "\n".join(lines)


def command_line() -> str:
    return " ".join(["python", "benchmarks/scale_out.py", *sys.argv[1:]])


def write_section(path: Path, name: str, body: str) -> None:
    """Replace the section ``name`` of ``path`` (between its BEGIN/END markers), keeping the others."""
    begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
    text = path.read_text() if path.exists() else "# Scale out: scoring and training beyond one process\n"
    block = f"{begin}\n{body}\n{end}"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else f"{text.rstrip()}\n\n{block}\n"
    path.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--files", type=int, default=100)
    parser.add_argument("--tiny-files", type=int, default=40, help="one-row files for the per-partition overhead")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--spark-master", default="local[2]")
    parser.add_argument("--skip-dask", action="store_true")
    parser.add_argument("--skip-spark", action="store_true")
    parser.add_argument("--tmp-dir", type=Path, default=None, help="where the data is written (default: system temp)")
    parser.add_argument("--output-dir", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.load = os.getloadavg()[0]  # other work on the machine shows in every rate: say how much there was

    # Scoring fills the "scoring" section of scale_out.md; training (one rank against two, time to the
    # same validation loss) is a section of its own beside it, written with write_section(..., "training").
    with tempfile.TemporaryDirectory(prefix="aedetect-scale-out-", dir=args.tmp_dir) as folder:
        results = bench_scoring(args, Path(folder))
    args.output_dir.mkdir(parents=True, exist_ok=True)
    section = scoring_section(args, results)
    write_section(args.output_dir / "scale_out.md", "scoring", section)
    with open(args.output_dir / "scale_out_scoring.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(results[0]))
        writer.writeheader()
        writer.writerows(results)
    print()
    print(section)


if __name__ == "__main__":
    main()
