"""Score many CSV and Parquet files, on this machine or on a Dask or Spark cluster.

Inputs are fsspec URLs or paths, with globs (``s3://bucket/in/*.parquet``); every file is one partition,
read in chunks and scored through the row-scoring core by whichever worker the engine gives it, and
written as one Parquet part (``part-00000.parquet``, in the sorted order of the input files) in the
output folder. Spark does not keep the order of rows, so every row carries its key: the id column, or
``source_file`` (the input's URL) and ``row_index`` (its row in that file, from 0).

The output folder must be new or empty: nothing the user did not ask to replace is overwritten, and
parts of different runs never mix. On a local disk a part is written under a temporary name and
renamed; to an object store it is uploaded whole (an object appears only once its upload completes).
If any file fails, the parts of this run are removed and the first error is raised, naming the file.
"""

from __future__ import annotations

import functools
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from aedetect.batch.cluster import (
    EXPLANATION_COLUMN,
    ModelSource,
    ScoringOptions,
    explanations,
    is_url,
    local_path,
    require,
)
from aedetect.batch.files import ScoringSummary, file_kind, scored_chunks
from aedetect.data.io import atomic_write

ENGINES = ("local", "dask", "spark")
#: Settings of the Dask cluster started on this machine when no scheduler is given. Dask's statistical
#: profiler samples every worker thread's stack every 10 ms; it made scoring about 1.7x slower per worker
#: (benchmarks/results/scale_out.md, dask-1 against dask-1 with the profiler).
LOCAL_DASK_CONFIG = {"distributed.worker.profile.enabled": False}
KEY_COLUMNS = ("source_file", "row_index")
PART_NAME = "part-{:05d}.parquet"


@dataclass(frozen=True)
class Part:
    """One input file and the output part it is written to."""

    source: str
    output: str


@dataclass
class PartResult:
    """What scoring one part did; ``error`` is the user's error in one line (then nothing was written)."""

    part: Part
    rows: int = 0
    flagged: int = 0
    written: int = 0
    error: str | None = None


@dataclass
class FilesSummary(ScoringSummary):
    """A :class:`~aedetect.batch.files.ScoringSummary` over all files, with the parts written and the
    files that had no rows (no part is written for them)."""

    files: int = 0
    parts: int = 0
    empty: int = 0


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
    core = options.core(source.load())  # a bad model or option fails here, before any task
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
        _remove([result.part.output for result in results if not result.error and result.rows])
        more = f" (and {len(failed) - 1} more file(s))" if len(failed) > 1 else ""
        raise ValueError(f"{failed[0].part.source}: {failed[0].error}{more}; no scores were kept.")
    summary = FilesSummary(threshold=core.threshold, files=len(files))
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
    return (
        f"scored {summary.rows} rows in {summary.files} files: {summary.flagged} flagged "
        f"({summary.flagged / max(summary.rows, 1):.2%}) at threshold {summary.threshold:.6g}; wrote "
        f"{summary.parts} parts to {output}{empty}"
    )


def as_location(value) -> str:
    """A path or URL as the user wrote it: ``pathlib.Path`` (what the command line hands over) folds the
    ``//`` of ``s3://bucket`` into one slash, which is put back."""
    text = os.fspath(value)
    match = re.fullmatch(r"([a-zA-Z][a-zA-Z0-9+.-]+):/(?!/)(.*)", text, re.S)
    if match is None:
        return text
    scheme, rest = match.groups()
    return f"/{rest}" if scheme == "file" else f"{scheme}://{rest}"


def expand(inputs: str | Sequence[str]) -> list[str]:
    """The files that ``inputs`` (paths or URLs, globs allowed) name, sorted, each once; only CSV and Parquet."""
    import fsspec

    names = [inputs] if isinstance(inputs, str | os.PathLike) else list(inputs)
    files: list[str] = []
    for name in map(os.fspath, names):
        try:
            opened = fsspec.open_files(name)
        except (ImportError, ValueError) as error:  # an unknown protocol, or its package missing
            raise ValueError(f"Cannot read {name!r}: {error}") from None
        except OSError as error:
            raise ValueError(f"Cannot read {name!r}: {error}") from None
        found = [opened.fs.unstrip_protocol(item.path) if is_url(name) else item.path for item in opened]
        found = [path for path in found if opened.fs.isfile(opened.fs._strip_protocol(path))]
        if not found:
            raise FileNotFoundError(f"No file matches {name!r}; check the path or URL.")
        unknown = [path for path in found if file_kind(path) is None]
        if unknown:
            raise ValueError(f"Cannot score {unknown[0]!r}: use CSV or Parquet files.")
        files += found
    return sorted(dict.fromkeys(files))


def prepare_folder(output: str, files: Sequence[str]) -> str:
    """Create the output folder, or check that it is empty; return its name without a trailing slash."""
    from aedetect.data.io import check_output

    output = os.fspath(output)
    if not is_url(output):
        path = check_output(Path(local_path(output)).expanduser().absolute(), inputs=files, directory=True)
        if path.is_dir() and any(path.iterdir()):
            raise ValueError(f"Output folder {output!r} is not empty; give a new or empty folder for the parts.")
        path.mkdir(exist_ok=True)
        return str(path)
    import fsspec

    fs, root = fsspec.core.url_to_fs(output)
    root = root.rstrip("/")
    if fs.exists(root) and (not fs.isdir(root) or fs.ls(root, detail=False)):
        raise ValueError(f"Output folder {output!r} is not empty; give a new or empty folder for the parts.")
    fs.makedirs(root, exist_ok=True)
    return output.rstrip("/")


def score_part(part: Part, source: ModelSource, options: ScoringOptions) -> PartResult:
    """Score one input file into its part: the task that every engine runs on its workers. The user's
    errors come back in ``PartResult.error`` (one line), so that every engine reports them alike."""
    result = PartResult(part)
    try:
        core = options.core(source.load())
        with _local_copy(part.source) as path:
            try:
                _write_part(path, part, core, options, result)
            except (ValueError, TypeError, KeyError, OSError) as error:
                text = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
                raise ValueError(text.replace(str(path), part.source)) from None
    except (ValueError, TypeError, KeyError, OSError, FloatingPointError) as error:
        text = str(error.args[0]) if isinstance(error, KeyError) and error.args else str(error)
        result.error = " ".join(text.split()) or type(error).__name__
    return result


def _write_part(path: Path, part: Part, core, options: ScoringOptions, result: PartResult) -> None:
    summary = ScoringSummary()

    def write(target: str) -> None:
        writer = None
        try:
            for table, scored in scored_chunks(path, core, summary):
                first = summary.rows
                if options.id_column is None:
                    taken = [name for name in KEY_COLUMNS if name in table.schema.names]
                    if taken:
                        raise ValueError(
                            f"The data has a column {taken[0]!r}, which the output uses to key the rows; "
                            "rename it, or key the rows by an id column (--id-column)."
                        )
                    table = table.add_column(0, KEY_COLUMNS[1], pa.array(range(first, first + len(table)), pa.int64()))
                    table = table.add_column(0, KEY_COLUMNS[0], pa.repeat(pa.scalar(part.source), len(table)))
                kept = core.output(table, scored)
                if options.explain:
                    explained = explanations(core, core.features(table), scored, options.explain)
                    kept = kept.append_column(EXPLANATION_COLUMN, pa.array(explained[core.kept(scored)], pa.string()))
                if writer is None:
                    writer = pq.ParquetWriter(target, kept.schema)
                writer.write_table(kept)
                result.written += len(kept)
        finally:
            if writer is not None:
                writer.close()
        if summary.rows == 0:
            raise _NoRows

    try:
        if is_url(part.output):
            with tempfile.TemporaryDirectory(prefix="aedetect-part-") as folder:
                temporary = os.path.join(folder, "part.parquet")
                write(temporary)
                fs, name = _filesystem(part.output)
                fs.put_file(temporary, name)  # an object store shows the object only once it is whole
        else:
            atomic_write(part.output, write)
    except _NoRows:
        pass
    result.rows, result.flagged = summary.rows, summary.flagged


class _NoRows(Exception):
    """A file without rows: no part is written for it."""


@contextmanager
def _local_copy(name: str) -> Iterator[Path]:
    """The input as a local file: the file itself, or a temporary copy of a URL's."""
    if not is_url(name):
        yield Path(local_path(name))
        return
    fs, path = _filesystem(name)
    with tempfile.TemporaryDirectory(prefix="aedetect-input-") as folder:
        local = Path(folder, Path(path).name)
        fs.get_file(path, str(local))
        yield local


def _filesystem(url: str):
    import fsspec

    return fsspec.core.url_to_fs(url)


def _remove(outputs: Sequence[str]) -> None:
    for name in outputs:
        try:
            if is_url(name):
                fs, path = _filesystem(name)
                fs.rm(path)
            else:
                Path(local_path(name)).unlink(missing_ok=True)
        except OSError:
            pass  # the error that made us clean up is the one to report


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
