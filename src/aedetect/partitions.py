"""Rows spread over processes: row keys, the hash that picks rows, and the collective operations.

Training on several processes fits everything for the whole data, not per process, so every rule
that picks rows or sums over rows is written once here and used the same way on one process:

- A row is named by a *row key*: its position in the whole data set (the Parquet fragments in path
  order, then the rows of each), or the value of an id column. :func:`row_hash` turns ``(seed, key)``
  into a 64-bit hash; the rows with the smallest hashes are a uniform sample that any partitioning
  of the rows reproduces (the validation rows, the latent reference codes, the quantile sample).
  :func:`content_hash` hashes a row's values instead, so that repeated rows share a hash: the rows
  with the smallest distinct such hashes are a uniform sample of the distinct rows (the reference
  input rows), and :func:`distinct_rows` finds the repeated rows of a matrix (:func:`on_distinct_rows`: scored once).
- :class:`Group` sums, gathers and takes extremes over the processes of an initialised
  ``torch.distributed`` process group, and is the identity on one process.
- :class:`PassGroup` does the same over the chunks of a stream as well (data larger than memory):
  :func:`in_passes` calls a function written for :class:`Group` on every chunk, once per collective
  operation in it, so that the same code fits on a table in memory and on one read in chunks.

:func:`aedetect.data.shards.read_shard` reads one process's share of a Parquet data set with each
row's key. This module sits below every other layer, so that preprocessing, training and scoring
use the same operations.
"""

from __future__ import annotations

import pickle

import numpy as np
import pandas as pd
import torch
import torch.distributed as dist

_MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB))


#: Values per block of :func:`distinct_rows` (16 MB of float32): its temporaries stay a few times that.
DISTINCT_BLOCK_VALUES = 1 << 22


def _splitmix64(values: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a bijection of 64-bit integers whose outputs look uniform."""
    with np.errstate(over="ignore"):
        z = values.astype(np.uint64) + _MIX[0]
        z = (z ^ (z >> np.uint64(30))) * _MIX[1]
        z = (z ^ (z >> np.uint64(27))) * _MIX[2]
        return z ^ (z >> np.uint64(31))


def row_hash(keys, seed: int) -> np.ndarray:
    """64-bit hash of ``(seed, key)`` for each row key (integers, or any values pandas can hash).

    The same key and seed give the same hash on every machine and in every partition.
    """
    keys = np.asarray(keys)
    if np.issubdtype(keys.dtype, np.integer):
        values = keys.astype(np.int64).view(np.uint64)
    else:  # strings and other ids: pandas' hash, which is fixed across runs and platforms
        values = pd.util.hash_array(keys.astype(object))
    return _splitmix64(values ^ _splitmix64(np.asarray([seed], dtype=np.int64).view(np.uint64))[0])


def content_hash(rows: np.ndarray, seed: int) -> np.ndarray:
    """64-bit hash of ``seed`` and the values of each row of ``rows`` (a 2-d float32 matrix): rows that
    hold the same values have the same hash, on every machine and in every partition."""
    rows = np.asarray(rows, dtype=np.float32)
    hashes = np.full(len(rows), _splitmix64(np.asarray([seed], dtype=np.int64).view(np.uint64))[0])
    for j in range(rows.shape[1]):  # a column at a time: a copy of one column, not of the rows
        # + 0 turns -0.0 into 0.0: the same value, so the same hash.
        hashes = _splitmix64(hashes ^ (rows[:, j] + np.float32(0)).view(np.uint32).astype(np.uint64))
    return hashes


def distinct_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where the distinct rows of ``rows`` (float32, any shape per row) are: the position of one row
    of each distinct value, and for each row which of those holds its values, so that
    ``rows[first][inverse]`` is ``rows``. Rows are grouped by a hash of their values (one pass over
    blocks of :data:`DISTINCT_BLOCK_VALUES` values, no loop over columns: a 10-row request costs
    well under a millisecond) and then compared value by value, so that two rows whose hashes collide stay apart
    (a row holding NaN is its own). The hash only groups rows: :func:`content_hash`, which picks
    rows, is not it."""
    rows = np.asarray(rows, dtype=np.float32)
    width = int(np.prod(rows.shape[1:]))
    flat = rows.reshape(len(rows), width)
    step = max(1, DISTINCT_BLOCK_VALUES // max(width, 1))
    weights = _splitmix64(np.arange(width, dtype=np.uint64)) | np.uint64(1)  # odd: a bijection per value
    hashes = np.empty(len(flat), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for s in range(0, len(flat), step):
            # + 0 turns -0.0 into 0.0: the same value, so the same hash.
            values = (flat[s : s + step] + np.float32(0)).view(np.uint32).astype(np.uint64)
            hashes[s : s + step] = _splitmix64((values * weights).sum(axis=1, dtype=np.uint64))
    _, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    apart = np.flatnonzero(
        np.concatenate(
            [~(flat[s : s + step] == flat[first[inverse[s : s + step]]]).all(axis=1) for s in range(0, len(flat), step)]
            or [np.zeros(0, dtype=bool)]
        )
    )
    apart = apart[first[inverse[apart]] != apart]  # not the row that stands for them
    if len(apart):
        inverse[apart] = len(first) + np.arange(len(apart))
        first = np.concatenate([first, apart])
    return first, inverse


def on_distinct_rows(compute, rows: np.ndarray) -> np.ndarray:
    """``compute(rows)``, a value per row, computed once for each distinct row (:func:`distinct_rows`)
    and repeated for its copies; a copy of the distinct rows is made only where some repeat."""
    first, inverse = distinct_rows(rows)
    if len(first) == len(rows):
        return compute(rows)
    return compute(rows[first])[inverse]


def distinct_share(candidates: np.ndarray, count: int) -> tuple[np.uint64 | None, float]:
    """The largest of the ``count`` smallest distinct hashes among ``candidates`` (sorted, distinct), and
    the share of all distinct hashes that those ``count`` are: ``(None, 1.0)`` when there are no more.
    Hashes are uniform over their range, so the ``count``-th smallest of ``D`` lies near ``count / D``
    of it: that fraction of the range estimates the share, without counting the distinct rows."""
    if len(candidates) <= count:
        return None, 1.0
    largest = candidates[count - 1]
    return largest, float(largest) / 2.0**64


def _distinct_rows(hashes: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each distinct hash once with its (first) row, in hash order."""
    hashes, first = np.unique(np.asarray(hashes, dtype=np.uint64), return_index=True)
    return hashes, np.ascontiguousarray(rows[first])


class Group:
    """Collective operations over the processes that train together.

    ``Group()`` is this process alone: every operation returns its input, so that one process runs
    the same rules. :meth:`job` is every process of the process group that ``torch.distributed``
    has initialised (torchrun, Spark's ``TorchDistributor``, Ray's ``TorchTrainer``); only code that
    the job's processes all run together takes it, so that a detector fitted on its own inside such
    a job stays on its own.
    """

    def __init__(self, processes: bool = False) -> None:
        self.distributed = processes and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1
        self.rank = dist.get_rank() if self.distributed else 0
        self.size = dist.get_world_size() if self.distributed else 1
        nccl = self.distributed and dist.get_backend() == "nccl"
        # NCCL reduces tensors on the GPU only; gloo on the CPU.
        self.device = torch.device("cuda", torch.cuda.current_device()) if nccl else torch.device("cpu")

    @classmethod
    def job(cls) -> Group:
        """Every process of the initialised process group (this process alone when there is none)."""
        return cls(processes=True)

    def _reduce(self, values, op) -> np.ndarray:
        array = np.asarray(values, dtype=np.float64)
        if not self.distributed:
            return array.copy()
        tensor = torch.as_tensor(array, device=self.device).clone()
        dist.all_reduce(tensor, op=op)
        return tensor.cpu().numpy()

    def sum(self, values) -> np.ndarray:
        """Element-wise sum over the processes, in float64."""
        return self._reduce(values, dist.ReduceOp.SUM if self.distributed else None)

    def max(self, values) -> np.ndarray:
        return self._reduce(values, dist.ReduceOp.MAX if self.distributed else None)

    def min(self, values) -> np.ndarray:
        return self._reduce(values, dist.ReduceOp.MIN if self.distributed else None)

    def gather(self, array: np.ndarray) -> np.ndarray:
        """Every process's rows of ``array`` (any row count, same dtype and row shape), in rank order."""
        array = np.ascontiguousarray(array)
        if not self.distributed:
            return array
        return np.concatenate(self.gather_objects(array), axis=0)

    def gather_objects(self, value) -> list:
        """Every process's ``value`` (picklable), in rank order."""
        if not self.distributed:
            return [value]
        parts = [None] * self.size
        dist.all_gather_object(parts, pickle.dumps(value))
        return [pickle.loads(part) for part in parts]  # noqa: S301 - our own processes' values

    def smallest(self, hashes: np.ndarray, count: int) -> np.ndarray:
        """Mask of the rows whose hash is among the ``count`` smallest of all processes' rows."""
        hashes = np.asarray(hashes, dtype=np.uint64)
        if count <= 0:
            return np.zeros(len(hashes), dtype=bool)
        local = np.sort(hashes)[:count]
        candidates = np.sort(self.gather(local))
        if len(candidates) < count:  # fewer rows in all than asked for: every row
            return np.ones(len(hashes), dtype=bool)
        return hashes <= candidates[count - 1]

    def smallest_distinct(self, hashes: np.ndarray, count: int) -> tuple[np.ndarray, float]:
        """Mask of the rows whose hash is among the ``count`` smallest *distinct* hashes of all processes'
        rows (repeats of a hash all in or all out), and the share of the distinct hashes that is
        (estimated, :func:`distinct_share`; 1.0 when the mask holds every row)."""
        hashes = np.asarray(hashes, dtype=np.uint64)
        if count <= 0:  # as smallest: no operation
            return np.zeros(len(hashes), dtype=bool), 0.0
        # One more than asked for, so that a share below 1 shows.
        largest, share = distinct_share(np.unique(self.gather(np.unique(hashes)[: count + 1])), count)
        return (np.ones(len(hashes), dtype=bool) if largest is None else hashes <= largest), share

    def gather_distinct(self, hashes: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Every process's rows, each distinct hash once (with the row of its first occurrence), in hash
        order: the distinct hashes and their rows."""
        hashes, rows = _distinct_rows(hashes, rows)
        return _distinct_rows(self.gather(hashes), self.gather(rows))


class _EndOfPass(Exception):
    """The chunk has given its part of the operation that this pass gathers."""


class PassGroup:
    """A :class:`Group` over the chunks of a stream and the processes of ``group``.

    A function written for :class:`Group` runs on each chunk in turn (see :func:`in_passes`). Its
    collective operations are answered in order: one already merged over every chunk and process
    gets the merged answer; the first one not yet merged takes the chunk's part and ends the
    function's run on that chunk. After each pass over the chunks that operation is merged, so a
    function with ``k`` collective operations runs in ``k + 1`` passes. Chunks act as processes do:
    sums in float64 over the chunks, then over the processes; gathers in chunk order, then in rank
    order (the order of the rows in memory); :meth:`smallest` keeps only the ``count`` smallest
    hashes of the chunks seen, so the memory held is what the merged answers hold.
    """

    def __init__(self, group: Group) -> None:
        self.group = group
        self.distributed, self.rank, self.size, self.device = group.distributed, group.rank, group.size, group.device
        self._answers: list[tuple[str, object]] = []
        self._pending: tuple[str, object] | None = None
        self._call = 0

    def _start_chunk(self) -> None:
        self._call = 0

    def _operation(self, kind: str, part, merge_part):
        """The merged answer of this operation, or take the chunk's ``part`` and end the run."""
        index, self._call = self._call, self._call + 1
        if index < len(self._answers):
            known, answer = self._answers[index]
            if known != kind:
                raise RuntimeError(f"The chunks did not make the same operations ({kind} where {known} was).")
            return answer
        if self._pending is not None and self._pending[0] != kind:
            raise RuntimeError(f"The chunks did not make the same operations ({kind} where {self._pending[0]} was).")
        merged = part if self._pending is None else merge_part(self._pending[1], part)
        self._pending = (kind, merged)
        raise _EndOfPass

    def again(self, function, chunk):
        """``function(chunk, self)`` from the merged answers, once :func:`in_passes` has completed it:
        no pass, no operation over the processes (what a chunk's rows were given, such as the
        held-out rows, found again when the chunk is read again)."""
        self._start_chunk()
        try:
            return function(chunk, self)
        except _EndOfPass:
            raise RuntimeError("again() runs a function that in_passes completed, with the same operations.") from None

    def _merge(self) -> None:
        kind, part = self._pending
        if kind == "gather":
            answer = self.group.gather(np.concatenate(part) if part else np.empty(0))
        elif kind == "gather_objects":
            answer = [value for values in self.group.gather_objects(part) for value in values]
        elif kind == "smallest":
            hashes, count = part
            candidates = np.sort(self.group.gather(hashes))
            answer = None if len(candidates) < count else candidates[count - 1]
        elif kind == "smallest_distinct":
            hashes, count = part
            answer = distinct_share(np.unique(self.group.gather(hashes)), count)
        elif kind == "gather_distinct":
            answer = self.group.gather_distinct(*part)
        else:
            answer = getattr(self.group, kind)(part)
        self._answers.append((kind, answer))
        self._pending = None

    def sum(self, values) -> np.ndarray:
        return self._operation("sum", np.asarray(values, dtype=np.float64), np.add).copy()

    def max(self, values) -> np.ndarray:
        return self._operation("max", np.asarray(values, dtype=np.float64), np.maximum).copy()

    def min(self, values) -> np.ndarray:
        return self._operation("min", np.asarray(values, dtype=np.float64), np.minimum).copy()

    def gather(self, array: np.ndarray) -> np.ndarray:
        return self._operation("gather", [np.ascontiguousarray(array)], lambda a, b: a + b)

    def gather_objects(self, value) -> list:
        return self._operation("gather_objects", [value], lambda a, b: a + b)

    def smallest(self, hashes: np.ndarray, count: int) -> np.ndarray:
        hashes = np.asarray(hashes, dtype=np.uint64)
        if count <= 0:  # as Group.smallest: no operation
            return np.zeros(len(hashes), dtype=bool)

        def keep(kept, new):
            return np.sort(np.concatenate([kept[0], new[0]]))[:count], count

        largest = self._operation("smallest", (np.sort(hashes)[:count], count), keep)
        return np.ones(len(hashes), dtype=bool) if largest is None else hashes <= largest

    def smallest_distinct(self, hashes: np.ndarray, count: int) -> tuple[np.ndarray, float]:
        hashes = np.asarray(hashes, dtype=np.uint64)
        if count <= 0:  # as Group.smallest_distinct: no operation
            return np.zeros(len(hashes), dtype=bool), 0.0

        def keep(kept, new):  # only the count + 1 smallest distinct hashes of the chunks seen
            return np.unique(np.concatenate([kept[0], new[0]]))[: count + 1], count

        largest, share = self._operation("smallest_distinct", (np.unique(hashes)[: count + 1], count), keep)
        return (np.ones(len(hashes), dtype=bool) if largest is None else hashes <= largest), share

    def gather_distinct(self, hashes: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # Repeats are dropped as each chunk's rows are added, so what is held is the distinct rows.
        def keep(kept, new):
            return _distinct_rows(np.concatenate([kept[0], new[0]]), np.concatenate([kept[1], new[1]]))

        return self._operation("gather_distinct", _distinct_rows(hashes, rows), keep)


def in_passes(function, chunks, group: Group | None = None):
    """``function(chunk, passes)`` on every chunk of ``chunks()``, in passes, until it completes on all.

    ``function`` is written for a :class:`Group` (``passes``, a :class:`PassGroup`, stands for one)
    and must make the same collective operations on every chunk, as on every process; ``chunks`` is
    called once per pass and gives the chunks in the same order each time (at least one, empty if
    need be, on every process). Returns what ``function`` returned on each chunk in the last pass, and
    the :class:`PassGroup`, whose :meth:`~PassGroup.again` runs ``function`` on a chunk once more.
    """
    passes = PassGroup(group or Group())
    while True:
        ended, results = False, []
        for chunk in chunks():
            passes._start_chunk()
            try:
                results.append(function(chunk, passes))
            except _EndOfPass:
                ended = True
        if ended and results:
            raise RuntimeError("The chunks did not make the same operations (some completed, some did not).")
        if not ended:
            return results, passes
        passes._merge()


__all__ = ["Group", "PassGroup", "in_passes", "row_hash", "content_hash", "distinct_rows", "on_distinct_rows"]
