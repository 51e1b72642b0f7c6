"""The training loop shared by every model: optimizers, losses and metrics by name, early stopping.

A model here is any ``nn.Module`` with ``encode`` and ``decoder`` (see :mod:`aedetect.models`). The
loop knows nothing about tables, thresholds or files; a :class:`~aedetect.training.variants.Variant` adds
its input corruption or its loss term through one hook, not a second loop.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from aedetect.training.variants import Variant

OPTIMIZERS: dict[str, Callable[..., torch.optim.Optimizer]] = {
    "adam": torch.optim.Adam,
    "adamw": torch.optim.AdamW,
    "sgd": lambda params, lr, weight_decay: torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay),
    "rmsprop": torch.optim.RMSprop,
}


def _bce(out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    # BCE minus the target's own entropy (the Bernoulli KL divergence): the same gradient as BCE,
    # but 0 for a perfect reconstruction, so a row's error does not depend on how close its values
    # are to 0.5. Targets outside [0, 1] (rows beyond the range the min-max scaler was fitted on:
    # validation rows, anomalies) are clipped, where BCE is undefined, and the distance beyond the
    # range is added as a squared error, so such rows score high instead of raising.
    inside = x.clamp(0, 1)
    bce = nn.functional.binary_cross_entropy(out.clamp(1e-7, 1 - 1e-7), inside, reduction="none")
    entropy = nn.functional.binary_cross_entropy(inside.clamp(1e-7, 1 - 1e-7), inside, reduction="none")
    return (bce - entropy).clamp_min(0) + (x - inside).pow(2)


# Element-wise losses: (reconstruction, target) -> same-shape tensor. Reduced by the loop, so that
# the same functions give per-feature reconstruction errors at scoring time.
ELEMENTWISE: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "mse": lambda out, x: (out - x).pow(2),
    "mae": lambda out, x: (out - x).abs(),
    "huber": lambda out, x: nn.functional.huber_loss(out, x, reduction="none"),
    "bce": _bce,
}
LOSSES = ("mse", "mae", "huber", "bce")
METRICS = ("mse", "mae", "huber", "rmse")


def make_optimizer(config: TrainingConfig, model: nn.Module) -> torch.optim.Optimizer:
    """The named optimizer; Adam and AdamW use the fused kernel where this PyTorch has one.

    A small network spends most of a step in per-tensor overhead; the fused update is one kernel.
    """
    kwargs = {"lr": config.learning_rate, "weight_decay": config.weight_decay}
    if config.optimizer in ("adam", "adamw"):
        try:
            return OPTIMIZERS[config.optimizer](model.parameters(), fused=True, **kwargs)
        except (RuntimeError, TypeError, ValueError):  # older PyTorch: no fused kernel for this device
            pass
    return OPTIMIZERS[config.optimizer](model.parameters(), **kwargs)


def resolve_device(device: str) -> torch.device:
    """``"auto"`` picks CUDA when a GPU is present and the CPU otherwise."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device={device!r} was asked for but no CUDA GPU is available; use 'auto' or 'cpu'.")
    return torch.device(device)


def check_name(kind: str, name: str, known: Sequence[str]) -> str:
    if name not in known:
        raise ValueError(f"Unknown {kind} {name!r}; choose one of: {', '.join(known)}.")
    return name


@dataclass
class TrainingConfig:
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    loss: str = "mse"
    metrics: Sequence[str] = ("mae",)
    epochs: int = 100
    batch_size: int = 256
    patience: int = 10
    min_delta: float = 0.0
    seed: int = 0
    # Share of each batch's worst-reconstructed rows left out of the gradient: tolerance for
    # anomalies hidden among the training rows (they reconstruct worst, so they stop being learned).
    trim_fraction: float = 0.0
    variant: Variant = field(default_factory=Variant)


@dataclass
class History:
    """Per-epoch loss and metrics on the training and validation rows (Keras-style keys).

    ``stopped_on_budget`` is true when the epoch budget ended training while the monitored loss had
    still improved within the last ``patience`` epochs: early stopping had not decided, and more
    epochs may give a better model (models saved before this flag existed read as false).
    """

    values: dict[str, list[float]] = field(default_factory=dict)
    best_epoch: int = 0
    stopped_epoch: int = 0
    seconds: float = 0.0
    stopped_on_budget: bool = False

    def append(self, logs: dict[str, float]) -> None:
        for key, value in logs.items():
            self.values.setdefault(key, []).append(float(value))

    def to_dict(self) -> dict:
        return {
            "values": self.values,
            "best_epoch": self.best_epoch,
            "stopped_epoch": self.stopped_epoch,
            "seconds": self.seconds,
            "stopped_on_budget": self.stopped_on_budget,
        }

    @classmethod
    def from_dict(cls, data: dict) -> History:
        return cls(
            {k: [float(x) for x in v] for k, v in data["values"].items()},
            int(data["best_epoch"]),
            int(data["stopped_epoch"]),
            float(data["seconds"]),
            bool(data.get("stopped_on_budget", False)),
        )


def _metric(name: str, out: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    if name == "rmse":  # summed as squared error; the square root is taken per epoch
        return ELEMENTWISE["mse"](out, x).mean(dim=1).sum()
    return ELEMENTWISE[name](out, x).mean(dim=1).sum()


def _finish(name: str, total: float, count: int) -> float:
    value = total / max(count, 1)
    return math.sqrt(value) if name == "rmse" else value


def _extra_terms(model: nn.Module, variant: Variant) -> list[str]:
    """Names of the loss terms beside the reconstruction, logged per epoch."""
    extra = [variant.penalty_name] if variant.penalty_name else []
    return extra + (["rotation", "rotation_accuracy"] if getattr(model, "rotation", None) is not None else [])


def _batch_loss(
    model: nn.Module,
    variant: Variant,
    inputs: torch.Tensor,
    x: torch.Tensor,
    elementwise: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor, dict[str, torch.Tensor]]:
    """Reconstruction of ``x`` from ``inputs`` (``x`` or its corrupted copy), the loss per row, and
    each extra term per row (raw, before weighting): the variant's, and the rotation head's
    cross-entropy on the clean images, which adds to the loss as it is (with, logged beside it, whether
    the head told each image's quarter turn right)."""
    code, penalty, raw = variant.encode(model, inputs, generator)
    out = model.decoder(code)
    per_row = elementwise(out, x).mean(dim=1) + penalty
    terms = {variant.penalty_name: raw} if variant.penalty_name else {}
    if getattr(model, "rotation", None) is not None:
        logits, turns = model.rotation_logits(x)
        terms["rotation"] = nn.functional.cross_entropy(logits, turns, reduction="none")
        terms["rotation_accuracy"] = (logits.detach().argmax(dim=1) == turns).float()
        per_row = per_row + terms["rotation"]
    return out, per_row, terms


@torch.inference_mode()
def evaluate_batches(
    model: nn.Module,
    data: torch.Tensor,
    loss: str,
    metrics: Sequence[str],
    batch_size: int,
    variant: Variant | None = None,
) -> dict[str, float]:
    """Mean loss (with the variant's term, deterministic) and metrics of ``model`` over ``data`` in
    evaluation mode."""
    variant = variant or Variant()
    was_training = model.training
    model.eval()
    totals = dict.fromkeys(["loss", *_extra_terms(model, variant), *metrics], 0.0)
    for start in range(0, len(data), batch_size):
        x = data[start : start + batch_size]
        out, per_row, terms = _batch_loss(model, variant, x, x, ELEMENTWISE[loss])
        totals["loss"] += float(per_row.sum())
        for name, value in terms.items():
            totals[name] += float(value.sum())
        for name in metrics:
            totals[name] += float(_metric(name, out, x))
    model.train(was_training)
    return {name: _finish(name, total, len(data)) for name, total in totals.items()}


def _batches_in_memory(x_train, n_rows, batch_size, generator, device, sharding):
    """Each batch of an epoch: this process's rows, their places in the global batch (with
    ``sharding``) and the global batch's size; one shuffling of all rows per epoch."""
    order = torch.randperm(n_rows, generator=generator).to(device)
    for start in range(0, n_rows, batch_size):
        rows = order[start : start + batch_size]
        if sharding is None:
            yield x_train[rows], None, len(rows)
        else:
            local, places = sharding.local(rows, len(x_train))
            yield x_train[local], places, len(rows)


def train(
    model: nn.Module,
    train_data: np.ndarray,
    validation_data: np.ndarray | None,
    config: TrainingConfig,
    device: torch.device,
    on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
    sharding=None,
) -> History:
    """Fit ``model`` to reconstruct ``train_data``; keep the weights of the best epoch.

    The best epoch is the one with the lowest validation loss (training loss without validation).
    Training stops after ``config.patience`` epochs without an improvement larger than ``min_delta``,
    or after ``config.epochs`` epochs; the history tells which (``stopped_on_budget``).
    With ``sharding`` (:class:`~aedetect.training.distributed.Sharding`) ``train_data`` and
    ``validation_data`` are this process's rows of all processes' rows, trained on as one process would.
    ``train_data`` may be a :class:`~aedetect.training.streaming.RowStream` (rows read from files
    in each epoch, with its own held-out rows; ``validation_data`` is then not used).
    """
    import time

    started = time.perf_counter()
    optimizer = make_optimizer(config, model)
    elementwise = ELEMENTWISE[config.loss]
    streamed = hasattr(train_data, "batches")  # a RowStream: rows read from files, each epoch anew
    x_train = None if streamed else torch.as_tensor(train_data, dtype=torch.float32, device=device)
    x_val = (
        torch.as_tensor(validation_data, dtype=torch.float32, device=device)
        if not streamed and validation_data is not None and len(validation_data)
        else None
    )
    generator = torch.Generator().manual_seed(config.seed)
    variant = config.variant
    # Corruption and posterior samples draw from their own stream, so the shuffling order (and a
    # plain model) is the same whatever the variant.
    noise = torch.Generator(device=device).manual_seed(config.seed + 1) if variant.kind != "plain" else None
    extra = _extra_terms(model, variant)
    history = History()
    best_loss, best_state, since_best = math.inf, None, 0
    n_rows = train_data.n_rows if streamed else len(x_train) if sharding is None else sharding.n_rows
    batch_size = min(config.batch_size, n_rows)
    distributed = None if sharding is None else sharding.forward(model, variant, elementwise)
    model.train()
    for epoch in range(1, config.epochs + 1):
        if streamed:
            batches = train_data.batches(batch_size, generator, device)
        else:
            batches = _batches_in_memory(x_train, n_rows, batch_size, generator, device, sharding)
        totals = dict.fromkeys(["loss", *extra, *config.metrics], torch.zeros((), device=device))
        for x, places, batch_rows in batches:
            if batch_rows < 2 and n_rows >= 2:  # a 1-row batch breaks batch normalisation
                continue
            if sharding is None:
                out, per_row, terms = _batch_loss(model, variant, variant.corrupt(x, noise), x, elementwise, noise)
            else:  # this process's rows of the global batch, through DDP
                out, per_row, terms = distributed(variant.corrupt(x, noise), x, noise)
            if sharding is not None:
                loss = sharding.loss(per_row, places, batch_rows, config.trim_fraction if epoch > 1 else 0.0)
            elif config.trim_fraction > 0 and epoch > 1:  # the first epoch learns from every row
                kept = max(1, int(len(per_row) * (1 - config.trim_fraction)))
                loss = per_row.topk(kept, largest=False, sorted=False).values.mean()
            else:
                loss = per_row.mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            with torch.no_grad():
                totals["loss"] = totals["loss"] + per_row.detach().sum()
                for name, value in terms.items():
                    totals[name] = totals[name] + value.detach().sum()
                for name in config.metrics:
                    totals[name] = totals[name] + _metric(name, out.detach(), x)
        if sharding is not None:
            totals = sharding.sum_totals(totals)
        logs = {name: _finish(name, float(total), n_rows) for name, total in totals.items()}
        if not math.isfinite(logs["loss"]):
            raise FloatingPointError(
                f"The training loss became {logs['loss']} at epoch {epoch}; lower the learning rate "
                "or check that the inputs are scaled."
            )
        monitored, val = logs["loss"], None
        if streamed and train_data.n_validation:
            val = train_data.evaluate(model, config, variant)
        elif sharding is not None and sharding.n_validation:
            val = sharding.evaluate(model, x_val, config, variant)
        elif x_val is not None:
            val = evaluate_batches(model, x_val, config.loss, config.metrics, 4096, variant)
        if val is not None:
            logs.update({f"val_{name}": value for name, value in val.items()})
            monitored = val["loss"]
        history.append(logs)
        if on_epoch_end is not None:
            on_epoch_end(epoch, logs)
        if monitored < best_loss - config.min_delta:
            best_loss, since_best, history.best_epoch = monitored, 0, epoch
            best_state = copy.deepcopy(model.state_dict())
        else:
            since_best += 1
        history.stopped_epoch = epoch
        if since_best >= config.patience:
            break
    else:
        history.stopped_on_budget = history.stopped_epoch > 0
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    history.seconds = time.perf_counter() - started
    return history
