"""Training on several processes as PyTorch's distributed data parallel (DDP), equal to one process.

Each process holds a contiguous run of the global training rows (``first`` to ``first + rows``).
:func:`~aedetect.training.loop.train` draws the same global shuffling on every process and walks
the same global batches of the single-process batch size; each process computes the loss of the
rows of each batch it holds (possibly none), weighted so that DDP's gradient average is the mean
over the whole batch, with the single-process learning rate. So every process takes the same number
of steps whatever its share (uneven shards cannot hang), and in exact arithmetic the steps are those
of one process. ``trim_fraction`` trims the worst rows of the whole batch; batch normalisation uses
the whole batch's statistics; the validation loss is summed over the processes, so every process
stops at the same epoch.

The start-up (:func:`init_from_environment`) reads the variables that torchrun, Spark's
``TorchDistributor`` and Ray's ``TorchTrainer`` set (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``,
``MASTER_ADDR``, ``MASTER_PORT``) and uses gloo on the CPU and NCCL on CUDA.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
from collections.abc import Callable, Iterator
from typing import NoReturn

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from aedetect.partitions import Group
from aedetect.training.loop import TrainingConfig, _batch_loss, _extra_terms, evaluate_batches
from aedetect.training.variants import Variant


def launched() -> bool:
    """Whether this process was started as one of several (torchrun and the like set ``WORLD_SIZE``)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_from_environment(device: str = "auto") -> Group:
    """Join the process group that the launcher describes, once; the group of all processes.

    gloo when training on the CPU, NCCL on CUDA (each process on the GPU of its ``LOCAL_RANK``). A
    process started alone gets a group of one.
    """
    if launched() and not dist.is_initialized():
        cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl" if cuda else "gloo")
    return Group.job()


def end_process(code: int = 0) -> NoReturn:
    """End a process of a job whose work is done (or failed): flush its output and exit at once.

    The interpreter's own shutdown is skipped. Once a job has trained (autograd through the group's
    collectives), destroying the process group no longer stops its gloo worker threads, and one of
    them can still be freeing the tensors of the last collective when the interpreter shuts down;
    it then needs the GIL, and the process aborts (SIGABRT) although its work succeeded.
    """
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


class _BatchLoss(nn.Module):
    """The loop's batch loss as one module, so that DDP's forward hooks see every step."""

    def __init__(self, model: nn.Module, variant: Variant, elementwise) -> None:
        super().__init__()
        self.model, self.variant, self.elementwise = model, variant, elementwise

    def forward(self, inputs, x, generator=None):
        return _batch_loss(self.model, self.variant, inputs, x, self.elementwise, generator)


def _synchronised_forward(module: _BatchNorm, x: torch.Tensor) -> torch.Tensor:
    """Batch normalisation over the whole global batch: sums over the processes, in float64.

    PyTorch's ``SyncBatchNorm`` runs on GPUs only; this works with gloo on the CPU as well, and
    with a process that holds no row of the batch.
    """
    from torch.distributed.nn.functional import all_reduce

    if not module.training:
        return type(module).forward(module, x)
    dims = [0, *range(2, x.dim())]
    wide = x.double()
    count = torch.full((1,), x.numel() / max(x.shape[1], 1), dtype=torch.float64, device=x.device)
    sums = all_reduce(torch.cat([wide.sum(dims), (wide * wide).sum(dims), count]))
    width = x.shape[1]
    n = sums[-1]
    mean = sums[:width] / n
    variance = (sums[width : 2 * width] / n - mean * mean).clamp_min(0)
    if module.track_running_stats:
        with torch.no_grad():
            module.num_batches_tracked.add_(1)
            momentum = module.momentum if module.momentum is not None else 1.0 / float(module.num_batches_tracked)
            unbiased = variance * n / (n - 1).clamp_min(1)
            module.running_mean.mul_(1 - momentum).add_(momentum * mean.to(module.running_mean.dtype))
            module.running_var.mul_(1 - momentum).add_(momentum * unbiased.to(module.running_var.dtype))
    shape = [1, width] + [1] * (x.dim() - 2)
    normalised = (wide - mean.view(shape)) / torch.sqrt(variance.view(shape) + module.eps)
    if module.affine:
        normalised = normalised * module.weight.double().view(shape) + module.bias.double().view(shape)
    return normalised.to(x.dtype)


@contextlib.contextmanager
def synchronised_batch_norm(model: nn.Module) -> Iterator[None]:
    """Within the block, the model's batch-norm layers normalise by the whole batch of all processes."""
    layers = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    for layer in layers:
        layer.forward = lambda x, layer=layer: _synchronised_forward(layer, x)
    try:
        yield
    finally:
        for layer in layers:
            del layer.forward


class Sharding:
    """How :func:`~aedetect.training.loop.train` sees the rows of all processes.

    Parameters
    ----------
    group : Group
    n_rows : int
        Training rows of all processes together.
    first : int
        Global index of this process's first training row (its rows are ``first`` onwards).
    n_validation : int
        Validation rows of all processes together.
    """

    def __init__(self, group: Group, n_rows: int, first: int, n_validation: int) -> None:
        self.group, self.n_rows, self.first, self.n_validation = group, int(n_rows), int(first), int(n_validation)
        self._ddp: nn.Module | None = None

    @classmethod
    def of(cls, group: Group, n_local: int, n_validation_local: int) -> Sharding:
        counts = group.gather(np.asarray([[n_local, n_validation_local]], dtype=np.int64))
        first = int(counts[: group.rank, 0].sum())
        return cls(group, int(counts[:, 0].sum()), first, int(counts[:, 1].sum()))

    def local(self, rows: torch.Tensor, n_local: int) -> tuple[torch.Tensor, torch.Tensor]:
        """This process's rows of a global batch (local indices) and their places in the batch."""
        shifted = rows - self.first
        places = torch.nonzero((shifted >= 0) & (shifted < n_local)).flatten()
        return shifted[places], places

    def forward(self, model: nn.Module, variant: Variant, elementwise) -> Callable:
        """The batch loss through DDP (built once per training), which averages the gradients."""
        if self._ddp is None:
            from torch.nn.parallel import DistributedDataParallel

            device = next(model.parameters()).device
            self._ddp = DistributedDataParallel(
                _BatchLoss(model, variant, elementwise), device_ids=[device] if device.type == "cuda" else None
            )
        return self._ddp

    def loss(self, per_row: torch.Tensor, places: torch.Tensor, batch_rows: int, trim_fraction: float) -> torch.Tensor:
        """This process's part of the batch's mean loss, times the process count (DDP divides by it).

        With ``trim_fraction`` the kept rows are the lowest-loss rows of the whole batch, as one
        process keeps them.
        """
        if trim_fraction > 0:
            kept = max(1, int(batch_rows * (1 - trim_fraction)))
            every = torch.full((batch_rows,), math.inf, dtype=torch.float64)
            every[places.cpu()] = per_row.detach().double().cpu()
            every = torch.as_tensor(self.group.min(every.numpy()))
            chosen = torch.zeros(batch_rows, dtype=torch.bool)
            chosen[torch.topk(every, kept, largest=False, sorted=False).indices] = True
            keep = chosen[places.cpu()].to(per_row.device)
            return per_row[keep].sum() * (self.group.size / kept)
        return per_row.sum() * (self.group.size / batch_rows)

    def sum_totals(self, totals: dict[str, torch.Tensor]) -> dict[str, float]:
        values = self.group.sum([float(v) for v in totals.values()])
        return dict(zip(totals, values.tolist(), strict=True))

    def evaluate(
        self, model: nn.Module, x_val: torch.Tensor | None, config: TrainingConfig, variant: Variant
    ) -> dict[str, float]:
        """Validation loss and metrics over the validation rows of all processes."""
        return evaluate_parts(model, [] if x_val is None else [x_val], config, variant, self.group, self.n_validation)


def evaluate_parts(
    model: nn.Module, parts, config: TrainingConfig, variant: Variant, group: Group, n_validation: int
) -> dict[str, float]:
    """Validation loss and metrics over ``parts`` (tensors of validation rows) of all processes of
    ``group``, ``n_validation`` rows in all: sums of each part's means times its rows."""
    names = ["loss", *_extra_terms(model, variant), *config.metrics]
    totals = np.zeros(len(names))
    for x_val in parts:
        if len(x_val):
            local = evaluate_batches(model, x_val, config.loss, config.metrics, 4096, variant)
            totals += [(local[n] ** 2 if n == "rmse" else local[n]) * len(x_val) for n in names]
    merged = group.sum(totals) / max(n_validation, 1)
    return {n: math.sqrt(v) if n == "rmse" else float(v) for n, v in zip(names, merged.tolist(), strict=True)}


__all__ = [
    "Group",
    "Sharding",
    "end_process",
    "evaluate_parts",
    "init_from_environment",
    "launched",
    "synchronised_batch_norm",
]
