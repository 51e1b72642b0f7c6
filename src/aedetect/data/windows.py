"""Series -> windows, and window scores -> a score per time point.

A series is a table with a timestamp column and one or more value columns. Windows of ``length``
points, every ``stride`` points, are what the sequence models (``architecture="conv1d"`` or
``"lstm"``) learn from; a point's score comes from the windows that cover it, so flagged spans can
be drawn on the series itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd

PointRule = Literal["min", "mean", "max"]
POINT_RULES = ("min", "mean", "max")


def read_series(
    table: pd.DataFrame, timestamp_column: str | None, value_columns: Sequence[str] | None = None
) -> tuple[pd.Series | None, pd.DataFrame]:
    """Split a series table into its timestamps (or ``None``) and its numeric value columns."""
    if timestamp_column is not None and timestamp_column not in table.columns:
        raise ValueError(
            f"The timestamp column {timestamp_column!r} is not in the data; columns are {list(table.columns)[:10]}. "
            "Name it with --timestamp-column (or leave it out for a series without timestamps)."
        )
    rest = table.drop(columns=[timestamp_column]) if timestamp_column is not None else table
    if value_columns is not None:
        missing = [c for c in value_columns if c not in rest.columns]
        if missing:
            raise ValueError(f"Value column(s) {missing} are not in the data; columns are {list(rest.columns)[:10]}.")
        rest = rest[list(value_columns)]
    numeric = [c for c in rest.columns if pd.api.types.is_numeric_dtype(rest[c])]
    if not numeric:
        raise ValueError("The series has no numeric value column; give a table with at least one number column.")
    stamps = table[timestamp_column] if timestamp_column is not None else None
    return stamps, rest[numeric]


def make_windows(values, length: int, stride: int = 1) -> np.ndarray:
    """Cut a series ``(n_points,)`` or ``(n_points, channels)`` into windows ``(n, length, channels)``.

    Window ``i`` covers points ``i * stride`` to ``i * stride + length - 1``; a tail shorter than a
    stride is left out of the windows (:func:`point_scores` still gives it the last window's score).

    Examples
    --------
    >>> make_windows(np.arange(6.0), length=3, stride=2)[:, :, 0].tolist()
    [[0.0, 1.0, 2.0], [2.0, 3.0, 4.0]]
    """
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, np.newaxis]
    if array.ndim != 2:
        raise ValueError(f"A series must be (n_points,) or (n_points, channels); got shape {array.shape}.")
    if int(length) < 2 or int(stride) < 1:
        raise ValueError(f"Windows need length >= 2 and stride >= 1; got length={length}, stride={stride}.")
    if len(array) < length:
        raise ValueError(
            f"The series has {len(array)} points, shorter than one window of {length}; give a longer series "
            "or a shorter --window."
        )
    windows = np.lib.stride_tricks.sliding_window_view(array, length, axis=0)[::stride]  # (n, channels, length)
    return np.ascontiguousarray(np.moveaxis(windows, -1, 1))


def point_scores(window_scores, n_points: int, length: int, stride: int = 1, rule: PointRule = "min") -> np.ndarray:
    """Score of each time point from the scores of the windows that cover it.

    ``"min"`` (default): a point scores high only when every window covering it does, which keeps
    a flagged span tight around the anomaly (a window holding one odd point is high wherever else
    it reaches). ``"mean"`` smooths; ``"max"`` flags every point of any high window.

    Examples
    --------
    >>> point_scores([0.0, 5.0, 0.0], n_points=5, length=3, stride=1).tolist()
    [0.0, 0.0, 0.0, 0.0, 0.0]
    >>> point_scores([0.0, 5.0, 0.0], n_points=5, length=3, stride=1, rule="max").tolist()
    [0.0, 5.0, 5.0, 5.0, 0.0]
    """
    if rule not in POINT_RULES:
        raise ValueError(f"Unknown point rule {rule!r}; expected one of {', '.join(POINT_RULES)}.")
    scores = np.asarray(window_scores, dtype=np.float64)
    starts = np.arange(len(scores)) * stride
    out = np.full(n_points, np.inf if rule == "min" else -np.inf) if rule != "mean" else np.zeros(n_points)
    counts = np.zeros(n_points)
    for offset in range(length):  # length passes of vectorised work instead of n_windows x length
        points = starts + offset
        inside = points < n_points
        if rule == "min":
            np.minimum.at(out, points[inside], scores[inside])
        elif rule == "max":
            np.maximum.at(out, points[inside], scores[inside])
        else:
            np.add.at(out, points[inside], scores[inside])
        np.add.at(counts, points[inside], 1)
    if rule == "mean":
        out = np.divide(out, counts, out=np.zeros(n_points), where=counts > 0)
    uncovered = counts == 0
    if uncovered.any() and len(scores):  # the tail past the last full window
        out[uncovered] = scores[-1]
    return out
