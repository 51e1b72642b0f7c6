"""One input file scored into one Parquet part: the task that every engine of
:mod:`aedetect.batch.cluster_files` runs on its workers.

Spark does not keep the order of rows, so every row carries its key: the id column, or ``source_file``
(the input's URL) and ``row_index`` (its row in that file, from 0). On a local disk a part is written
under a temporary name and renamed; to an object store it is uploaded whole (an object appears only
once its upload completes). A file without rows gets no part.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from aedetect.batch.cluster import EXPLANATION_COLUMN, ModelSource, ScoringOptions, explanations, is_url
from aedetect.batch.cluster_locations import filesystem, local_copy
from aedetect.batch.files import ScoringSummary, scored_chunks
from aedetect.data.outputs import atomic_write

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


def score_part(part: Part, source: ModelSource, options: ScoringOptions) -> PartResult:
    """Score one input file into its part: the task that every engine runs on its workers. The user's
    errors come back in ``PartResult.error`` (one line), so that every engine reports them alike."""
    result = PartResult(part)
    try:
        core = options.core(source.load())
        with local_copy(part.source) as path:
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
                fs, name = filesystem(part.output)
                fs.put_file(temporary, name)  # an object store shows the object only once it is whole
        else:
            atomic_write(part.output, write)
    except _NoRows:
        pass
    result.rows, result.flagged = summary.rows, summary.flagged


class _NoRows(Exception):
    """A file without rows: no part is written for it."""


__all__ = ["Part", "PartResult", "score_part", "KEY_COLUMNS", "PART_NAME"]
