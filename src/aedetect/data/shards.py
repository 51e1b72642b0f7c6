"""One process's share of a Parquet data set, with the global row key of each row."""

from __future__ import annotations

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


def read_shard(
    source, group: Group | None = None, columns: list[str] | None = None, id_column: str | None = None
) -> Shard:
    """Read this process's share of the Parquet fragments at ``source`` (a file, folder or list).

    Every process lists the same fragments (sorted by path) and reads whole fragments, contiguous
    runs balanced by row count (from the files' metadata). A row's key is its position in the whole
    data set, or its ``id_column`` value (the column is then left out of the frame).
    """
    group = group or Group.job()
    fragments = _fragments(source)
    counts = [fragment.count_rows() for fragment in fragments]
    mine = assign_fragments(counts, group.size)[group.rank]
    offsets = np.concatenate([[0], np.cumsum(counts)])
    read = None if columns is None else list(columns) + ([id_column] if id_column else [])
    frames = [fragments[i].to_table(columns=read).to_pandas() for i in mine]
    if frames:
        frame = pd.concat(frames, ignore_index=True)
    else:  # this process owns no fragment: an empty table with the data set's columns
        frame = fragments[0].to_table(columns=read).slice(0, 0).to_pandas()
    if id_column is not None:
        if id_column not in frame.columns:
            raise ValueError(f"The id column {id_column!r} is not in the data; columns are {list(frame.columns)}.")
        keys = frame.pop(id_column).to_numpy()
    else:
        keys = np.concatenate(
            [np.arange(offsets[i], offsets[i + 1], dtype=np.int64) for i in mine] or [np.empty(0, np.int64)]
        )
    return Shard(frame, keys, int(offsets[-1]), [fragments[i].path for i in mine])


__all__ = ["Shard", "assign_fragments", "read_shard"]
