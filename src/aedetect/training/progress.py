"""A Rich progress bar over the epochs of :func:`~aedetect.training.loop.train` (``verbose=True``)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from aedetect.training.loop import History, TrainingConfig, train


def train_with_progress(
    model: nn.Module,
    train_matrix: np.ndarray,
    val_matrix: np.ndarray | None,
    config: TrainingConfig,
    device: torch.device,
) -> History:
    """:func:`~aedetect.training.loop.train`, showing the epoch count and the last epoch's losses."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("training"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[logs]}"),
    )
    with Progress(*columns, transient=False) as progress:
        task = progress.add_task("train", total=config.epochs, logs="")

        def report(epoch: int, logs: dict[str, float]) -> None:
            shown = "  ".join(f"{k} {val:.4f}" for k, val in logs.items())
            progress.update(task, completed=epoch, logs=shown)

        history = train(model, train_matrix, val_matrix, config, device, report)
        progress.update(task, total=history.stopped_epoch)
    return history


__all__ = ["train_with_progress"]
