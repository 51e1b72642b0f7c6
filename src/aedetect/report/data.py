"""What a report is built from: a fitted detector, the data and everything derived from them.

:class:`ReportData` computes each thing once and only when a figure or the page asks for it: scores and
flags (for a series model per time point, as ``score`` and ``evaluate`` give them), the evaluation,
the diagnoses, the threshold explorer's state, per-feature errors, reconstructions and latent codes,
and :attr:`ReportData.available`, the needs the data meet, which decide the figures the page shows.
:func:`report_data` checks the labels and builds it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from aedetect._validation import check_labels
from aedetect.batch.core import RowScoringCore, ScoredRows
from aedetect.diagnostics import Diagnosis, diagnose
from aedetect.evaluation import Evaluation, ThresholdMeaning, evaluate
from aedetect.report import explorer
from aedetect.report.style import spans_decades

#: How many features the flagged-rows table names for each row.
TABLE_FEATURES = 3


@dataclass
class SeriesPoints:
    """A series scored per time point, as ``score`` and ``evaluate`` score it: which points the windows
    cover, each point's time (from the time column, or its 0-based index) and its values."""

    n_points: int
    window: int
    stride: int
    times: pd.Series
    time_name: str
    values: pd.DataFrame

    def window_starts(self, n_windows: int) -> pd.Series:
        """The time of each window's first point."""
        return self.times.iloc[np.arange(n_windows) * self.stride].reset_index(drop=True)


def series_points(series, timestamp_column: str | None = None) -> SeriesPoints:
    """The :class:`SeriesPoints` of a series read by :func:`aedetect.data.inputs.read_windows`."""
    table = series.table.reset_index(drop=True)
    times, name = pd.Series(np.arange(len(table))), "time index (from 0)"
    if timestamp_column is not None and timestamp_column in table.columns:
        column = table[timestamp_column]
        parsed = column if pd.api.types.is_numeric_dtype(column) else pd.to_datetime(column, errors="coerce")
        if parsed.notna().all():
            times, name = parsed, str(timestamp_column)
    return SeriesPoints(len(table), series.window, series.stride, times, name, table[list(series.value_columns)])


@dataclass
class ReportData:
    """The detector, the data and everything derived from them, computed once and on demand.

    With ``points`` (a series model's data), ``X`` holds the windows and ``labels`` are per time
    point; scores, flags, metrics and the threshold explorer are per time point, as ``evaluate``
    gives them.
    """

    detector: object
    X: object
    labels: np.ndarray | None = None
    source: str = "data"
    points: SeriesPoints | None = None

    @cached_property
    def core(self) -> RowScoringCore:
        return RowScoringCore(self.detector)

    @cached_property
    def window_scores(self) -> np.ndarray:
        """Scores of the rows of ``X`` (for a series: of its windows)."""
        return np.asarray(self.core.score_features(self.X).scores, dtype=np.float64)

    @cached_property
    def window_labels(self) -> np.ndarray | None:
        """Labels of the rows of ``X``; for a series, 1 for a window that holds an anomalous point."""
        if self.points is None or self.labels is None:
            return self.labels
        from aedetect.data.windows import make_windows

        windows = make_windows(self.labels, self.points.window, self.points.stride)
        return windows.max(axis=(1, 2)).astype(np.int64)[: len(self.window_scores)]

    @cached_property
    def scored(self) -> ScoredRows:
        scores = self.window_scores
        if self.points is not None:
            from aedetect.data.windows import point_scores

            scores = point_scores(scores, self.points.n_points, self.points.window, self.points.stride)
        scored = self.core.flag(scores)
        scores = scored.scores = np.asarray(scored.scores, dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(scores))
        if bad.size:  # no figure can place them, and every summary would turn NaN
            raise ValueError(
                f"{bad.size} of {scores.size} rows have no finite anomaly score (first: row "
                f"{bad[0]}, score {scores[bad[0]]}); their values are probably too large for the "
                "model's float32 network: check those rows, or clip or rescale the data."
            )
        return scored

    @property
    def scores(self) -> np.ndarray:
        return self.scored.scores

    @property
    def threshold(self) -> float:
        return self.core.threshold

    @cached_property
    def evaluation(self) -> Evaluation | None:
        return evaluate(self.labels, self.scores, self.threshold) if "labels" in self.available else None

    @property
    def unit(self) -> str:
        """What one score is of, in the page's words."""
        if self.points is not None:
            return "time points"
        return {"image": "images", "series": "windows"}.get(getattr(self.detector, "data_kind_", "table"), "rows")

    @cached_property
    def meaning(self) -> ThresholdMeaning:
        labels = self.labels if "labels" in self.available else None
        return ThresholdMeaning.of(self.detector, labels, None if labels is None else self.scores)

    @cached_property
    def warnings(self) -> list[Diagnosis]:
        return diagnose(self.detector, self.scores, self.labels if "labels" in self.available else None)

    @cached_property
    def row_names(self) -> tuple[str, pd.Index | pd.Series | None]:
        """How rows are named on the page: the heading and one name per row (``None``: 0-based positions)."""
        if self.points is not None:
            return self.points.time_name, self.points.times
        index = self.X.index if isinstance(self.X, pd.DataFrame) else None
        if index is None or index.equals(pd.RangeIndex(len(index))):
            return "position (from 0)", None
        return str(index.name or "id"), index

    @cached_property
    def explorer(self) -> dict:
        heading, names = self.row_names
        scores = self.scores
        features = None
        if "feature-errors" in self.available and "table" in self.available and self.points is None:
            top = np.argsort(-scores, kind="stable")[: explorer.MAX_TABLE_ROWS]
            explained = self.core.explain(self.X, top, TABLE_FEATURES)
            features = [", ".join(c.feature for c in row) for row in explained]
        return explorer.explorer_data(
            scores,
            self.threshold,
            self.detector.threshold_rule_.to_spec(),
            getattr(self.detector, "calibration_scores_", None),
            self.labels if "labels" in self.available else None,
            log=spans_decades(scores),
            rows={
                "name": heading,
                "names": None if names is None else [_name(v) for v in names],
                "features": features,
            },
        )

    @cached_property
    def feature_errors(self) -> tuple[pd.DataFrame, str]:
        """Each feature's part in each row's score (the detector's ``feature_contributions``) and its unit."""
        errors, contributions = self.core.contributions(self.X)
        frame = pd.DataFrame(
            contributions,
            columns=list(self.detector.feature_names_out_),
            index=self.X.index if isinstance(self.X, pd.DataFrame) else None,
        )
        if contributions is errors:  # the score takes the errors as they are
            member = (getattr(self.detector, "members_", None) or [self.detector])[0]  # an ensemble's members share it
            return frame, f"reconstruction error ({member.loss}, scaled units)"
        return frame, "error relative to normal rows (1 = typical error)"

    @cached_property
    def samples(self) -> tuple[np.ndarray, np.ndarray]:
        """Originals and reconstructions of images or windows, channel-last, in the input's units."""
        from aedetect.preprocessing.arrays import sample_array

        prep = self.detector.preprocessor_
        return sample_array(self.X, prep.kind).astype(float), prep.to_samples(self.detector.reconstruct(self.X))

    @cached_property
    def codes(self) -> np.ndarray:
        return self.detector.encode(self.X)

    @cached_property
    def available(self) -> set[str]:
        found = set()
        if self.labels is not None and 0 < int(np.sum(self.labels)) < len(self.labels):
            found.add("labels")
        found.add(getattr(self.detector, "data_kind_", "table"))
        if len(self.scores) >= 2:
            found.add("rows")
        if self.points is not None:
            found.add("points")
        for need, method in (
            ("feature-errors", "feature_contributions"),
            ("codes", "encode"),
            ("reconstructions", "reconstruct"),
        ):
            if callable(getattr(self.detector, method, None)):
                found.add(need)
        history = getattr(self.detector, "history_", None)
        if history is not None and history.values:
            found.add("history")
        return found


def _name(value):
    """A row's name for the page: numbers stay numbers (so they sort as numbers), the rest is text."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return value.item() if isinstance(value, np.generic) else value
    return str(value)


def report_data(detector, X, y=None, source: str = "data", series=None) -> ReportData:
    """The :class:`ReportData` of ``detector`` on ``X``: with ``series`` (read by
    :func:`aedetect.data.inputs.read_windows`; ``X`` its windows) per time point, labels ``y`` too."""
    points = None
    if series is not None:
        meta = getattr(detector, "metadata_", None) or {}
        points = series_points(series, meta.get("timestamp_column"))
    rows = len(X) if points is None else points.n_points
    return ReportData(detector, X, None if y is None else check_labels(y, rows), source, points)


__all__ = ["ReportData", "SeriesPoints", "report_data", "series_points"]
