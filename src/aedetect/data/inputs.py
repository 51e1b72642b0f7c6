"""What the command line reads: images (folders, IDX, arrays) and series (cut into windows).

Tables stay with :func:`aedetect.data.io.read_table`; these readers return the arrays the
detector takes for the other two kinds, with 0/1 labels when the source has them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from aedetect.data.images import is_idx, read_idx, read_image_folder
from aedetect.data.io import read_table, split_labels
from aedetect.data.windows import make_windows, read_series


@dataclass
class Images:
    images: np.ndarray  # (n, h, w) or (n, h, w, channels)
    labels: np.ndarray | None
    ids: list[str]  # file names for a folder, the row number otherwise


@dataclass
class Series:
    windows: np.ndarray  # (n_windows, length, channels)
    window_labels: np.ndarray | None  # 1 when the window holds an anomalous point
    table: pd.DataFrame  # the series as read (timestamps, values, labels), one row a point
    point_labels: np.ndarray | None
    window: int
    stride: int
    value_columns: list[str]


def is_image_source(source: str) -> bool:
    """A folder, an IDX file, or a .npy/.npz whose array has 3 or 4 dimensions."""
    path = Path(source)
    if path.is_dir() or is_idx(path):
        return True
    if path.suffix.lower() == ".npy" and path.is_file():
        try:
            return np.load(path, mmap_mode="r", allow_pickle=False).ndim in (3, 4)
        except (ValueError, OSError):
            return False
    if path.suffix.lower() == ".npz" and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as archive:
                return "X" in archive.files and archive["X"].ndim in (3, 4)
        except (ValueError, OSError):
            return False
    return False


def _map_labels(raw: np.ndarray, normal_label, anomaly_label) -> np.ndarray:
    return split_labels(pd.DataFrame({"label": np.asarray(raw).ravel()}), "label", normal_label, anomaly_label)[1]


def read_images(source: str, labels_file: str | None = None, normal_label=0, anomaly_label=1) -> Images:
    """Read images from a folder (``normal/`` and ``anomaly/`` sub-folders label them), an IDX file
    (``labels_file``: the matching IDX labels, mapped by ``normal_label``/``anomaly_label``), or a
    ``.npy``/``.npz`` array (``.npz``: ``X`` and optional 0/1 ``y``)."""
    path = Path(source)
    if path.is_dir():
        images, labels, names = read_image_folder(path)
        if labels_file is not None:
            raise ValueError(
                "--labels is for IDX files; an image folder is labelled by its normal/ and anomaly/ sub-folders."
            )
        return Images(images, labels, names)
    labels = None
    if is_idx(path):
        images = read_idx(path)
        if images.ndim != 3:
            raise ValueError(
                f"{str(path)!r} holds an IDX array of shape {images.shape}, not images; give the images file."
            )
    elif path.suffix.lower() == ".npz":
        with np.load(path, allow_pickle=False) as archive:
            images = archive["X"]
            labels = np.asarray(archive["y"]).astype(np.int64).ravel() if "y" in archive.files else None
    elif path.suffix.lower() == ".npy":
        images = np.load(path, allow_pickle=False)
    else:
        if not path.exists():
            raise FileNotFoundError(f"No such image source: {str(path)!r}; check the path.")
        raise ValueError(
            f"This model scores images; {str(path)!r} is not an image source. Give an image folder, an IDX file "
            "or a .npy/.npz array of images."
        )
    if labels_file is not None:
        raw = read_idx(labels_file) if is_idx(labels_file) else np.load(labels_file, allow_pickle=False)
        if np.ndim(raw) != 1 or len(raw) != len(images):
            raise ValueError(
                f"The labels file {str(labels_file)!r} has shape {np.shape(raw)} but there are {len(images)} images; "
                "give the labels file that matches the images."
            )
        labels = _map_labels(raw, normal_label, anomaly_label)
    return Images(images, labels, [str(i) for i in range(len(images))])


def read_windows(
    source: str,
    window: int,
    stride: int = 1,
    timestamp_column: str | None = None,
    value_columns: Sequence[str] | None = None,
    label_column: str | None = None,
    normal_label=0,
    anomaly_label=1,
) -> Series:
    """Read a series table and cut it into windows; a window is anomalous when any of its points is."""
    table = read_table(source)
    values_table, point_labels = split_labels(table, label_column, normal_label, anomaly_label)
    _, values = read_series(values_table, timestamp_column, value_columns)
    windows = make_windows(values.to_numpy(dtype=np.float64), window, stride)
    window_labels = None
    if point_labels is not None:
        window_labels = make_windows(point_labels, window, stride).max(axis=(1, 2)).astype(np.int64)
    return Series(
        windows, window_labels, table, point_labels, int(window), int(stride), [str(c) for c in values.columns]
    )
