"""What ``aedetect train`` learns from: the data options (merged with the config file) and how the data
is read, with the check that a column named like a label is not trained on by mistake."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aedetect.cli.inputs import DATASET_PREFIX, read_input

#: Column names that usually hold labels (compared in lower case, '-' and ' ' read as '_').
LABEL_NAMES = frozenset(
    (
        "label labels class target y anomaly anomalies is_anomaly anomalous outlier is_outlier fraud is_fraud "
        "attack is_attack malicious ground_truth truth"
    ).split()
)


@dataclass
class TrainingData:
    """Where the training data comes from and how to read it (the data options, merged with the config)."""

    data: str
    label_column: str | None
    normal: Any
    anomaly: Any
    features: list[str] | None
    drop: list[str]
    labels_file: str | None
    window: int | None
    stride: int
    timestamp_column: str | None
    values: list[str] | None
    check_label_like: bool = True
    series: Any = field(default=None, init=False, repr=False)  # a windowed series, once read

    def read(self, detector) -> tuple[Any, Any, dict[str, Any]]:
        """Features, 0/1 labels (or None) and what the model folder keeps about the data."""
        import pandas as pd

        from aedetect.data.inputs import is_image_source, read_images, read_windows

        meta: dict[str, Any] = {}
        if self.window is not None:
            series = read_windows(
                self.data,
                self.window,
                self.stride,
                self.timestamp_column,
                self.values,
                self.label_column,
                self.normal,
                self.anomaly,
            )
            frame, labels = series.windows, series.window_labels
            self.series = series
            if detector.architecture == "auto":
                detector.set_params(architecture="conv1d")
            meta = {
                "window": int(self.window),
                "stride": int(self.stride),
                "timestamp_column": self.timestamp_column,
                "values": series.value_columns,
            }
        elif not self.data.startswith(DATASET_PREFIX) and is_image_source(self.data):
            images = read_images(self.data, self.labels_file, self.normal, self.anomaly)
            frame, labels = images.images, images.labels
        else:
            frame, labels, _ = read_input(self.data, self.label_column, self.normal, self.anomaly, self.drop)
            if self.label_column is None and self.check_label_like and not self.data.startswith(DATASET_PREFIX):
                refuse_label_like_column(frame)
        if self.features and isinstance(frame, pd.DataFrame):
            from aedetect.data.io import select_features

            frame = select_features(frame, self.features)
        if self.data.startswith(DATASET_PREFIX):
            from aedetect.data.datasets import DATASETS

            dataset = DATASETS[self.data[len(DATASET_PREFIX) :]]
            if dataset.categorical and not detector.categorical_features:
                detector.set_params(categorical_features=list(dataset.categorical))
        return frame, labels, meta

    def scored(self, model, labels) -> tuple[Any, Any, str]:
        """The scores the fit already holds (no second scoring pass) with their labels, in the unit that
        ``score`` and ``evaluate`` use: for a windowed series, each time point's score from the windows
        that cover it and the time points' labels."""
        if self.series is None:
            return model.decision_scores_, labels, "rows"
        from aedetect.data.windows import point_scores

        series = self.series
        scores = point_scores(model.decision_scores_, len(series.table), series.window, series.stride)
        return scores, series.point_labels, "time points"


def refuse_label_like_column(frame) -> None:
    """Refuse to train on a column that looks like a label (its name, and exactly two values) unless
    the user says which it is: training on it would learn the label as a feature, and the anomalies."""
    for column in frame.columns:
        name = str(column).strip().lower().replace("-", "_").replace(" ", "_")
        if name not in LABEL_NAMES:
            continue
        found = frame[column].dropna().unique()
        if len(found) == 2:
            shown = ", ".join(
                repr(value.item() if hasattr(value, "item") else value) for value in sorted(found, key=str)
            )
            raise ValueError(
                f"Column {column!r} looks like a label (two values: {shown}): give --label-column {column} to "
                f"train on its normal rows only, or --no-label-column to keep it as a feature."
            )
