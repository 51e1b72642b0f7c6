"""The kinds of data a detector is fitted on, named once.

A fitted detector records its kind in ``data_kind_`` (and its saved ``model.json``): a table's rows
are feature vectors, an image is ``(height, width[, channels])``, a series window is
``(length[, channels])``. The values are plain strings so that manifests and JSON stay as they are.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd

DataKind = Literal["table", "image", "series"]

TABLE: DataKind = "table"
IMAGE: DataKind = "image"
SERIES: DataKind = "series"
DATA_KINDS: tuple[DataKind, ...] = (TABLE, IMAGE, SERIES)
#: The kind of data each network takes, and the network that ``architecture="auto"`` picks per kind.
KIND_OF_ARCHITECTURE: dict[str, DataKind] = {"dense": TABLE, "conv2d": IMAGE, "conv1d": SERIES, "lstm": SERIES}
DEFAULT_ARCHITECTURE: dict[DataKind, str] = {TABLE: "dense", IMAGE: "conv2d", SERIES: "conv1d"}


def data_kind(X, architecture: str) -> DataKind:
    """The kind of ``X``: from the architecture, or from the array's rank for ``"auto"``."""
    if architecture != "auto":
        kind = KIND_OF_ARCHITECTURE[architecture]
        if kind == TABLE and not isinstance(X, pd.DataFrame) and _ndim(X) > 2:
            raise ValueError(
                f"architecture='dense' needs a 2-D table; got an array of shape {np.shape(X)}. Use "
                "architecture='conv2d' for images or 'conv1d'/'lstm' for series windows."
            )
        return kind
    if not isinstance(X, pd.DataFrame) and _ndim(X) in (3, 4):
        return IMAGE
    return TABLE


def _ndim(X) -> int:
    """Dimensions of an array or of a list of samples (that may differ in size: sample_array says so)."""
    try:
        return np.ndim(X)
    except ValueError:  # numpy's "inhomogeneous shape"
        return 1 + np.ndim(X[0])


__all__ = ["DataKind", "TABLE", "IMAGE", "SERIES", "DATA_KINDS", "DEFAULT_ARCHITECTURE", "data_kind"]
