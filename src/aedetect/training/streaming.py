"""Training rows read from files in chunks, anew in each epoch: tables larger than memory.

A :class:`RowStream` stands in for the training matrix of :func:`~aedetect.training.loop.train`.
Each epoch reads this process's chunks again and shuffles the rows through a buffer of a bounded
number of rows (a full buffer is shuffled and half of it handed out; the rest stays to mix with the
next chunks), so memory holds the buffer and a chunk, not the data. The epoch's steps are those of
one process on all rows: ``ceil(rows / batch_size)`` global batches of ``batch_size`` rows and a
remainder; with several processes, each step takes each process's share of the batch in proportion
to its rows (:func:`step_shares`), so that every process takes the same steps and runs out of rows
at the end of the epoch. Only the order of the rows in the batches differs from training in memory
(where each epoch draws one permutation of all rows).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

import numpy as np
import torch

from aedetect.partitions import Group
from aedetect.training.distributed import evaluate_parts
from aedetect.training.loop import TrainingConfig
from aedetect.training.variants import Variant


def step_shares(rows: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
    """Each process's rows in each global batch: ``batch_size`` rows a step (the last step the rest).

    The rows are dealt as seats by Webster's method: process ``r``'s ``k``-th row comes at
    ``(k + 1/2) / rows[r]`` of the epoch, ties to the lower rank. Every process computes the same
    shares; they add up to the batch and, over the epoch, to each process's rows.
    """
    rows = np.asarray(rows, dtype=np.int64)
    taken = np.zeros_like(rows)
    total = int(rows.sum())
    ranks = np.repeat(np.arange(len(rows)), batch_size)
    while (done := int(taken.sum())) < total:
        size = min(batch_size, total - done)
        k = taken[:, None] + np.arange(batch_size)[None, :]
        with np.errstate(divide="ignore"):
            times = np.where(k < rows[:, None], (2 * k + 1) / (2.0 * rows[:, None]), np.inf).ravel()
        first = np.lexsort((ranks, times))[:size]
        share = np.bincount(ranks[first], minlength=len(rows))
        taken += share
        yield share


class RowStream:
    """This process's training and held-out rows, read again for each epoch as matrix chunks.

    Parameters
    ----------
    chunks : callable
        Gives, each time it is called, this process's chunks as ``(training rows, held-out rows)``
        float32 matrices (the preprocessed inputs of the network), in the same order each time.
    rows : array of int
        Training rows of each process (this process's at ``group.rank``).
    n_validation : int
        Held-out rows of all processes.
    group : Group
    width : int
        Columns of the matrices.
    buffer_rows : int
        Rows held in the shuffle buffer.
    """

    def __init__(
        self,
        chunks: Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]],
        rows: np.ndarray,
        n_validation: int,
        group: Group,
        width: int,
        buffer_rows: int,
    ) -> None:
        self.chunks, self.rows, self.group, self.width = chunks, np.asarray(rows, dtype=np.int64), group, int(width)
        self.n_rows, self.n_validation, self.buffer_rows = int(self.rows.sum()), int(n_validation), int(buffer_rows)

    def __len__(self) -> int:
        """This process's training rows."""
        return int(self.rows[self.group.rank])

    def _shuffled(self, generator: torch.Generator) -> Iterator[np.ndarray]:
        """This process's training rows, shuffled through the buffer, in blocks."""
        held: list[np.ndarray] = []
        count = 0
        for train, _ in self.chunks():
            held.append(train)
            count += len(train)
            if count >= self.buffer_rows:
                block = np.concatenate(held)
                order = torch.randperm(len(block), generator=generator).numpy()
                half = len(block) // 2
                yield block[order[:half]]
                held, count = [block[order[half:]]], len(block) - half
        if count:
            block = np.concatenate(held)
            yield block[torch.randperm(len(block), generator=generator).numpy()]

    def batches(self, batch_size: int, generator: torch.Generator, device) -> Iterator:
        """As the training loop takes them: this process's rows of each global batch, their places
        in the batch (``None`` on one process) and the global batch's size."""
        blocks = self._shuffled(generator)
        block, position = np.empty((0, 0), dtype=np.float32), 0
        rank = self.group.rank
        for share in step_shares(self.rows, max(1, min(batch_size, self.n_rows))):
            wanted, parts = int(share[rank]), []
            while wanted:
                if position == len(block):
                    block, position = next(blocks), 0
                part = block[position : position + wanted]
                parts.append(part)
                position += len(part)
                wanted -= len(part)
            if not parts:  # none of this process's rows in this batch
                x = np.empty((0, self.width), dtype=np.float32)
            else:
                x = parts[0] if len(parts) == 1 else np.concatenate(parts)
            places = None
            if self.group.distributed:
                start = int(share[:rank].sum())
                places = torch.arange(start, start + len(x), device=device)
            yield torch.as_tensor(x, device=device), places, int(share.sum())

    def evaluate(self, model, config: TrainingConfig, variant: Variant) -> dict[str, float]:
        """Validation loss and metrics over the held-out rows of all processes, read chunk by chunk."""
        device = next(model.parameters()).device
        parts = (torch.as_tensor(held, device=device) for _, held in self.chunks())
        return evaluate_parts(model, parts, config, variant, self.group, self.n_validation)


__all__ = ["RowStream", "step_shares"]
