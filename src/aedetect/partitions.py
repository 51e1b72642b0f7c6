"""Rows spread over processes: row keys, the hash that picks rows, and the collective operations.

Training on several processes fits everything for the whole data, not per process, so every rule
that picks rows or sums over rows is written once here and used the same way on one process:

- A row is named by a *row key*: its position in the whole data set (the Parquet fragments in path
  order, then the rows of each), or the value of an id column. :func:`row_hash` turns ``(seed, key)``
  into a 64-bit hash; the rows with the smallest hashes are a uniform sample that any partitioning
  of the rows reproduces (the validation rows, the latent reference codes, the quantile sample).
- :class:`Group` sums, gathers and takes extremes over the processes of an initialised
  ``torch.distributed`` process group, and is the identity on one process.

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


__all__ = ["Group", "row_hash"]
