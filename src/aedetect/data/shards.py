"""One process's share of a Parquet data set, with the global row key of each row."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from aedetect.partitions import Group


@dataclass
class Shard:
    """One process's rows of a Parquet data set: the table and each row's global row key."""

    frame: pd.DataFrame
    keys: np.ndarray
    n_rows: int  # rows of the whole data set
    paths: list[str]


def _fragments(source):
    import pyarrow.dataset as ds

    dataset = ds.dataset(source, format="parquet")
    fragments = sorted(dataset.get_fragments(), key=lambda fragment: fragment.path)
    if not fragments:
        raise ValueError(f"No Parquet files found at {source!r}; give a Parquet file, a folder of them or a glob.")
    return fragments


def assign_fragments(row_counts: list[int], size: int) -> list[list[int]]:
    """Fragments of each process: contiguous runs in path order, balanced by row count."""
    total = sum(row_counts)
    bounds = [total * (rank + 1) / size for rank in range(size)]
    owners: list[list[int]] = [[] for _ in range(size)]
    seen = 0
    for index, count in enumerate(row_counts):
        middle = seen + count / 2
        rank = next(rank for rank, bound in enumerate(bounds) if middle <= bound or rank == size - 1)
        owners[rank].append(index)
        seen += count
    return owners


def columns_to_read(columns, *also) -> list[str] | None:
    """``columns`` and the ``also`` columns given (an id, a label), or None (every column) without ``columns``."""
    return None if columns is None else [*columns, *(column for column in also if column)]


def _share(source, group: Group) -> tuple[list, list[int], np.ndarray]:
    """Every fragment (sorted by path), this process's fragments and each fragment's first row key."""
    fragments = _fragments(source)
    counts = [fragment.count_rows() for fragment in fragments]
    mine = assign_fragments(counts, group.size)[group.rank]
    return fragments, mine, np.concatenate([[0], np.cumsum(counts)])


def _keys(frame: pd.DataFrame, id_column: str | None, first: int) -> np.ndarray:
    """Each row's key: its ``id_column`` value (popped from ``frame``) or its position from ``first``."""
    if id_column is None:
        return np.arange(first, first + len(frame), dtype=np.int64)
    if id_column not in frame.columns:
        raise ValueError(f"The id column {id_column!r} is not in the data; columns are {list(frame.columns)}.")
    return frame.pop(id_column).to_numpy()


def _empty(fragment, columns: list[str] | None) -> pd.DataFrame:
    """A table without rows with the data set's columns (from the file's schema: no row is read)."""
    table = fragment.physical_schema.empty_table()
    return (table if columns is None else table.select(columns)).to_pandas()


def read_shard(
    source, group: Group | None = None, columns: list[str] | None = None, id_column: str | None = None
) -> Shard:
    """Read this process's share of the Parquet fragments at ``source`` (a file, folder or list).

    Every process lists the same fragments (sorted by path) and reads whole fragments, contiguous
    runs balanced by row count (from the files' metadata). A row's key is its position in the whole
    data set, or its ``id_column`` value (the column is then left out of the frame).
    """
    group = group or Group.job()
    fragments, mine, offsets = _share(source, group)
    read = columns_to_read(columns, id_column)
    frames = [fragments[i].to_table(columns=read).to_pandas() for i in mine]
    if frames:
        frame = pd.concat(frames, ignore_index=True)
    else:  # this process owns no fragment: an empty table with the data set's columns
        frame = _empty(fragments[0], read)
    if id_column is not None or not mine:
        keys = _keys(frame, id_column, 0)
    else:
        keys = np.concatenate([np.arange(offsets[i], offsets[i + 1], dtype=np.int64) for i in mine])
    return Shard(frame, keys, int(offsets[-1]), [fragments[i].path for i in mine])


def empty_frame(source, columns: list[str] | None = None) -> pd.DataFrame:
    """The columns of the Parquet data set at ``source`` as a table without rows (no row is read)."""
    return _empty(_fragments(source)[0], None if columns is None else list(columns))


def shard_rows(source, group: Group | None = None) -> int:
    """Rows of this process's share of the Parquet fragments at ``source`` (from the files' metadata)."""
    _, mine, offsets = _share(source, group or Group.job())
    return int(sum(offsets[i + 1] - offsets[i] for i in mine))


def iter_shard(
    source,
    group: Group | None = None,
    columns: list[str] | None = None,
    id_column: str | None = None,
    batch_rows: int = 65_536,
) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    """This process's share of ``source`` (as :func:`read_shard` reads it) in chunks of at most
    ``batch_rows`` rows, each with its rows' keys; one empty chunk when the share is empty.

    A file is read a record batch at a time, without reading ahead. Parquet decodes a column chunk
    of a row group at once, so memory holds about one row group as well: pyarrow writes row groups
    of up to a million rows by default; ``row_group_size`` of ``pyarrow.parquet.write_table`` (or
    the writer of Spark, Dask, pandas) sets a smaller one.
    """
    import pyarrow.parquet as pq

    group = group or Group.job()
    fragments, mine, offsets = _share(source, group)
    read = columns_to_read(columns, id_column)
    given = 0
    for index in mine:
        first = int(offsets[index])
        fragment = fragments[index]
        with fragment.filesystem.open_input_file(fragment.path) as handle:
            batches = pq.ParquetFile(handle, pre_buffer=False).iter_batches(batch_rows, columns=read, use_threads=False)
            for chunk in _keyed(batches, id_column, first):
                given += 1
                yield chunk
    if not given:
        frame = _empty(fragments[0], read)
        yield frame, _keys(frame, id_column, 0)


def _keyed(batches, id_column: str | None, first: int) -> Iterator[tuple[pd.DataFrame, np.ndarray]]:
    for batch in batches:
        frame = batch.to_pandas()
        yield frame, _keys(frame, id_column, first)
        first += len(frame)


__all__ = ["Shard", "assign_fragments", "columns_to_read", "empty_frame", "iter_shard", "read_shard", "shard_rows"]
