"""Score many CSV and Parquet files, on this machine or on a Dask or Spark cluster.

Inputs are fsspec URLs or paths, with globs (``s3://bucket/in/*.parquet``); every file is one partition,
read in chunks and scored through the row-scoring core by whichever worker the engine gives it, and
written as one Parquet part (``part-00000.parquet``, in the sorted order of the input files) in the
output folder (see :mod:`aedetect.batch.cluster_parts` for a part's rows and how it is written, and
:mod:`aedetect.batch.cluster_locations` for inputs and the output folder).

The output folder must be new or empty: nothing the user did not ask to replace is overwritten, and
parts of different runs never mix. If any file fails, the parts of this run are removed and the first
error is raised, naming the file.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass

from aedetect.batch.cluster import ModelSource, ScoringOptions, require
from aedetect.batch.cluster_locations import as_location, expand, prepare_folder, remove_outputs
from aedetect.batch.cluster_parts import KEY_COLUMNS, PART_NAME, Part, score_part
from aedetect.batch.files import ScoringSummary
from aedetect.evaluation import ThresholdMeaning, threshold_meaning

ENGINES = ("local", "dask", "spark")
#: Settings of the Dask cluster started on this machine when no scheduler is given. Dask's statistical
#: profiler samples every worker thread's stack every 10 ms; it made scoring about 1.7x slower per worker
#: (benchmarks/results/scale_out.md, dask-1 against dask-1 with the profiler).
LOCAL_DASK_CONFIG = {"distributed.worker.profile.enabled": False}


@dataclass
class FilesSummary(ScoringSummary):
    """A :class:`~aedetect.batch.files.ScoringSummary` over all files, with the parts written and the
    files that had no rows (no part is written for them)."""

    files: int = 0
    parts: int = 0
    empty: int = 0
    #: What the threshold means: the share of the model's held-out normal rows above it.
    meaning: ThresholdMeaning | None = None


def score_files(
    model,
    inputs: str | Sequence[str],
    output: str,
    *,
    engine: str = "local",
    scheduler: str | None = None,
    master: str | None = None,
    id_column: str | None = None,
    drop: Sequence[str] = (),
    only_anomalies: bool = False,
    threshold=None,
    explain: int = 0,
) -> FilesSummary:
    """Score the CSV and Parquet files matching ``inputs`` into Parquet parts under the folder ``output``.

    Parameters
    ----------
    model : str, path or fitted detector
        A saved model's path or fsspec URL that every worker can read, or a fitted detector.
    inputs : str or sequence of str
        Paths or fsspec URLs of files, globs allowed.
    output : str
        The output folder (a path or fsspec URL); it must be new or empty.
    engine : {'local', 'dask', 'spark'}
        Score here, one file after another; on a Dask cluster (``scheduler``: its address, or a
        ``LocalCluster`` on this machine); or with Spark (``master``, ``local[*]`` by default).
    id_column, drop, only_anomalies, threshold, explain
        As for :func:`aedetect.score_dask`.

    Returns
    -------
    FilesSummary
    """
    if engine not in ENGINES:
        raise ValueError(f"Unknown engine {engine!r}; use local, dask or spark.")
    options = ScoringOptions(id_column, tuple(drop), only_anomalies, threshold, explain)
    files = expand(inputs)
    source = ModelSource.of(model)
    detector = source.load()
    core = options.core(detector)  # a bad model or option fails here, before any task
    folder = prepare_folder(output, files)
    parts = [Part(name, f"{folder}/{PART_NAME.format(number)}") for number, name in enumerate(files)]
    if engine == "dask":
        results = _run_dask(parts, source, options, scheduler)
    elif engine == "spark":
        results = _run_spark(parts, source, options, master)
    else:
        results = [score_part(part, source, options) for part in parts]
    failed = [result for result in results if result.error]
    if failed:
        remove_outputs([result.part.output for result in results if not result.error and result.rows])
        more = f" (and {len(failed) - 1} more file(s))" if len(failed) > 1 else ""
        raise ValueError(f"{failed[0].part.source}: {failed[0].error}{more}; no scores were kept.")
    meaning = threshold_meaning(core.threshold, getattr(detector, "calibration_scores_", None))
    summary = FilesSummary(threshold=core.threshold, files=len(files), meaning=meaning)
    for result in results:
        summary.rows += result.rows
        summary.flagged += result.flagged
        summary.written += result.written
        summary.parts += result.rows > 0
        summary.empty += result.rows == 0
    return summary


def score_files_command(model: str, data: str, output: str | None, engine: str, **options) -> str:
    """``aedetect score MODEL DATA -o FOLDER --engine dask|spark``: score, and say what was done in one line.

    A missing extra is a ``ValueError`` here (the command line reports it in one line, exit code 2).
    """
    if output is None:
        raise ValueError(f"Give --output FOLDER (a path or URL) for the Parquet parts of --engine {engine}.")
    if options.get("scheduler") and engine != "dask":
        raise ValueError("--scheduler is the address of a Dask scheduler; use it with --engine dask.")
    if options.get("master") and engine != "spark":
        raise ValueError("--master is a Spark master URL; use it with --engine spark.")
    try:
        summary = score_files(as_location(model), data, as_location(output), engine=engine, **options)
    except ImportError as error:
        raise ValueError(str(error)) from None
    empty = f"; {summary.empty} file(s) without rows skipped" if summary.empty else ""
    scored = summary.meaning.flagged_line(summary.rows, f"rows in {summary.files} files", summary.flagged)
    return f"{scored}; wrote {summary.parts} parts to {output}{empty}"


# -- engines ---------------------------------------------------------------------------------------
def _run_dask(parts: list[Part], source: ModelSource, options: ScoringOptions, scheduler: str | None) -> list:
    distributed = require("distributed", "dask")
    with ExitStack() as stack:
        if scheduler:
            client = stack.enter_context(distributed.Client(scheduler, timeout="30s"))
        else:  # one process per core, one thread each: torch in each worker uses its own core
            import dask

            stack.enter_context(dask.config.set(LOCAL_DASK_CONFIG))
            cluster = stack.enter_context(
                distributed.LocalCluster(processes=True, threads_per_worker=1, dashboard_address=None)
            )
            client = stack.enter_context(distributed.Client(cluster))
        [shared] = client.scatter([source], broadcast=True)  # sent to each worker once, not per task
        futures = client.map(score_part, parts, source=shared, options=options, pure=False)
        return client.gather(futures)


def _run_spark(parts: list[Part], source: ModelSource, options: ScoringOptions, master: str | None) -> list:
    require("pyspark", "spark")
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers run this Python, with aedetect
    active = SparkSession.getActiveSession()
    if active is None:
        try:
            builder = SparkSession.builder.master(master or "local[*]").appName("aedetect score")
            spark = builder.config("spark.ui.showConsoleProgress", "false").getOrCreate()
        except Exception as error:  # noqa: BLE001  (Spark says why in many shapes; one line for the user)
            first = (str(error).strip().splitlines() or [type(error).__name__])[0]
            raise ValueError(
                f"Spark did not start ({first}); Spark 4 needs Java 17 or 21 (e.g. apt-get install "
                "openjdk-17-jre-headless) and a reachable --master."
            ) from None
    else:
        spark = active
    try:
        task = functools.partial(score_part, source=source, options=options)
        return spark.sparkContext.parallelize(parts, len(parts)).map(task).collect()
    finally:
        if active is None:
            spark.stop()


__all__ = [
    "score_files",
    "score_files_command",
    "score_part",
    "expand",
    "prepare_folder",
    "ENGINES",
    "KEY_COLUMNS",
    "FilesSummary",
]
