"""What fit measures on normal rows once the network is trained, besides the score statistics
(:mod:`aedetect.scoring.statistics`): the held-out scores that the threshold rule is fitted on, and a
table's drift reference (:mod:`aedetect.scoring.reference`) that new rows are checked against.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
from torch import nn

from aedetect.partitions import Group
from aedetect.scoring.forward import forward_pass
from aedetect.scoring.reference import DriftReference, fit_drift_reference


def calibration_scores(
    score: Callable[[np.ndarray, bool], np.ndarray],
    train_matrix: np.ndarray,
    val_matrix: np.ndarray | None,
    train_keys: np.ndarray,
    val_keys: np.ndarray,
    group: Group,
) -> np.ndarray:
    """``score`` of the held-out rows of all processes of ``group`` (the training rows when none is
    held out anywhere), in the order of their row keys: what the threshold rule is fitted on.
    ``score(rows, among_references)`` is told when the rows are training rows, which may be among the
    reference rows of the kNN parts (each must then skip its own distance of 0)."""
    n_val = int(group.sum([0 if val_matrix is None else len(val_matrix)])[0])
    held_out, keys = (val_matrix, val_keys) if n_val else (train_matrix, train_keys)
    scores = score(held_out, not n_val) if held_out is not None and len(held_out) else np.empty(0)
    keys = group.gather(np.asarray(keys))
    return group.gather(scores)[np.argsort(keys, kind="stable")]


def table_drift_reference(
    model: nn.Module,
    preprocessor,
    data: pd.DataFrame,
    train_rows: np.ndarray,
    held_out: np.ndarray,
    loss: str,
    device: torch.device,
) -> DriftReference:
    """Deciles of the training rows' numeric inputs and of the held-out rows' per-feature errors:
    what :mod:`aedetect.monitor` checks new rows of a table against."""
    numeric = list(preprocessor.numeric_columns_)
    inputs = data.iloc[train_rows][numeric].to_numpy(dtype=np.float64, na_value=np.nan)
    errors = forward_pass(model, held_out, loss, device)["errors"]
    return fit_drift_reference(inputs, errors)


__all__ = ["calibration_scores", "table_drift_reference"]
