"""Reading what a command works on: data (a table, images, a series or a built-in dataset) and a saved
model, and applying a ``--threshold`` override. Heavy libraries are imported inside the functions."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

DATASET_PREFIX = "dataset:"


def read_input(
    source: str, label_column: str | None, normal_label: Any, anomaly_label: Any, drop: list[str] | None = None
) -> tuple[pd.DataFrame, np.ndarray | None, pd.DataFrame]:
    """Read ``source`` (a file or ``dataset:NAME``); return features, 0/1 labels and the raw table."""
    from aedetect.data.datasets import load_dataset
    from aedetect.data.io import read_table, split_labels

    if source.startswith(DATASET_PREFIX):
        name = source[len(DATASET_PREFIX) :]
        features, labels = load_dataset(name)
        raw = features.assign(label=labels)
        return features, labels, raw
    raw = read_table(source)
    features, labels = split_labels(raw, label_column, normal_label, anomaly_label)
    if drop:
        features = features.drop(columns=[c for c in drop if c in features.columns])
    return features, labels, raw


def load_model(model: Path):
    """A saved detector or ensemble (``aedetect.load``)."""
    from aedetect.persistence.load import load

    return load(model)


def apply_threshold(detector, threshold: str | None, frame=None, labels=None) -> None:
    """Replace the model's threshold rule by ``--threshold`` (``best_f1`` needs labels)."""
    if threshold is None:
        return
    if threshold.startswith("best_f1"):
        if labels is None:
            raise ValueError("The 'best_f1' threshold needs labels; give --label-column.")
        detector.set_threshold(threshold, frame, labels)
    else:
        detector.set_threshold(threshold)


def scoring_frame(detector, frame: pd.DataFrame, extra_drop: list[str]) -> pd.DataFrame:
    """The columns of ``frame`` the detector scores (through the row-scoring core's column rules)."""
    from aedetect.batch.core import RowScoringCore

    return RowScoringCore(detector, drop=extra_drop).features(frame)


@dataclass
class ModelInput:
    """Data read for a saved model: what the detector scores, labels, and the table to write back."""

    features: Any
    labels: np.ndarray | None
    table: pd.DataFrame  # one row per score written: a row, an image or a series' time point
    series: Any = None  # aedetect.data.inputs.Series for a series model

    def scores(self, detector) -> np.ndarray:
        """Per-row scores; for a series, each time point's score from the windows covering it."""
        scores = detector.decision_function(self.features)
        if self.series is None:
            return scores
        from aedetect.data.windows import point_scores

        return point_scores(scores, len(self.series.table), self.series.window, self.series.stride)


def model_input(
    detector,
    data: str,
    label_column: str | None = None,
    normal_label: Any = 0,
    anomaly_label: Any = 1,
    drop: list[str] | None = None,
    labels_file: str | None = None,
) -> ModelInput:
    """Read ``data`` the way the saved model was trained: a table, images or a windowed series."""
    import pandas as pd

    from aedetect.data.inputs import read_images, read_windows

    meta = getattr(detector, "metadata_", {}) or {}
    if detector.data_kind_ == "image":
        images = read_images(data, labels_file, normal_label, anomaly_label)
        return ModelInput(images.images, images.labels, pd.DataFrame({"image": images.ids}))
    if detector.data_kind_ == "series" and meta.get("window"):
        series = read_windows(
            data,
            meta["window"],
            meta.get("stride", 1),
            meta.get("timestamp_column"),
            meta.get("values"),
            label_column,
            normal_label,
            anomaly_label,
        )
        return ModelInput(series.windows, series.point_labels, series.table, series)
    frame, labels, raw = read_input(data, label_column, normal_label, anomaly_label)
    return ModelInput(scoring_frame(detector, frame, drop or []), labels, raw)
