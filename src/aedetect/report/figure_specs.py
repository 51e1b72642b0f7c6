"""Which figures a report has: one :class:`FigureSpec` per figure in :data:`FIGURES`, and building them.

A figure is one function in a figure module (:mod:`aedetect.report.score_figures`,
:mod:`aedetect.report.explanation_figures`, :mod:`aedetect.report.sample_figures`) plus one entry here
that says what data it needs and how it gets them from the :class:`~aedetect.report.data.ReportData`.
A figure whose needs the data do not meet (no labels, say) is left out, with the reason the page gives.

Examples
--------
>>> [spec.name for spec in FIGURES if "labels" in spec.requires]
['roc-pr-curves', 'threshold-metrics', 'confusion-matrix']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from matplotlib.figure import Figure

from aedetect.report import explanation_figures, score_figures
from aedetect.report import sample_figures as sample_plots
from aedetect.report.data import ReportData

#: What a missing requirement means, in the page's words.
REQUIREMENTS = {
    "labels": "the data have no labels with both classes (give --label-column, or y= in Python)",
    "history": "the model has no training history",
    "table": "per-feature figures are for tables (images and series get their own)",
    "image": "the model is not an image model",
    "series": "the model is not a series model",
    "rows": "the data have only 1 row; a projection needs at least 2",
    "feature-errors": "the model gives no per-feature errors",
    "codes": "the model gives no latent codes (an ensemble has one per member)",
    "reconstructions": "the model gives no reconstructions (an ensemble has one per member)",
    "points": "the series' time points are not known (give write_report the series, as 'aedetect report' does)",
}


#: Requirements that name a kind of data: figures for another kind are not listed as left out.
DATA_KINDS = {"table", "image", "series"}


@dataclass(frozen=True)
class FigureSpec:
    """One figure of the report: its file name, heading, caption, needs and builder."""

    name: str
    title: str
    caption: str
    build: Callable[[ReportData], Figure]
    requires: frozenset[str] = frozenset()


def _labels_if_any(data: ReportData):
    return data.labels if "labels" in data.available else None


def _window_labels_if_any(data: ReportData):
    return data.window_labels if "labels" in data.available else None


def _top_anomalies(data: ReportData) -> Figure:
    heading, names = data.row_names
    frame = data.feature_errors[0]
    return explanation_figures.top_anomaly_features(
        frame,
        data.scores,
        data.threshold,
        unit=data.feature_errors[1],
        labels=_labels_if_any(data),
        row_name="position" if names is None else heading,
        names=None if names is None else [str(v) for v in names],
    )


FIGURES: list[FigureSpec] = [
    FigureSpec(
        "training-history",
        "Training history",
        "Loss and tracked metrics per epoch on training and held-out validation rows; the dashed line "
        "marks the epoch whose weights were kept.",
        lambda d: score_figures.training_history(
            d.detector.history_.values, d.detector.history_.best_epoch, d.detector.loss
        ),
        frozenset({"history"}),
    ),
    FigureSpec(
        "score-distribution",
        "Score distribution",
        "How anomaly scores are spread; rows to the right of the threshold are flagged.",
        lambda d: score_figures.score_distribution(d.scores, d.threshold, _labels_if_any(d)),
    ),
    FigureSpec(
        "roc-pr-curves",
        "ROC and precision-recall curves",
        "Threshold-free ranking quality; the dot is the operating point of the current threshold.",
        lambda d: score_figures.roc_pr_curves(d.labels, d.scores, d.threshold),
        frozenset({"labels"}),
    ),
    FigureSpec(
        "threshold-metrics",
        "Precision, recall and F1 against the threshold",
        "What moving the threshold would trade: fewer false alarms against more missed anomalies.",
        lambda d: score_figures.threshold_metrics(d.labels, d.scores, d.threshold),
        frozenset({"labels"}),
    ),
    FigureSpec(
        "confusion-matrix",
        "Confusion matrix",
        "Counts of rows by true class and flag at the current threshold.",
        lambda d: score_figures.confusion_matrix(d.evaluation.confusion_matrix, d.threshold),
        frozenset({"labels"}),
    ),
    FigureSpec(
        "top-anomaly-features",
        "Features behind the top anomalies",
        "For the highest-scoring flagged rows, the features the network reconstructs worst. A row is named by its "
        "0-based position in the data (position 0 is the first data row, below a CSV header) or by its id, and "
        "marked with its label when the data have labels.",
        _top_anomalies,
        frozenset({"table", "feature-errors"}),
    ),
    FigureSpec(
        "feature-error-summary",
        "Per-feature reconstruction error",
        "Mean per-feature error of flagged rows against the other rows: the features that drive the flags.",
        lambda d: explanation_figures.feature_error_summary(
            *d.feature_errors[:1], d.scores, d.threshold, unit=d.feature_errors[1]
        ),
        frozenset({"table", "feature-errors"}),
    ),
    FigureSpec(
        "reconstructions",
        "Originals and reconstructions",
        "The highest-scoring images and the most typical ones: original, reconstruction, and the "
        "per-pixel error map (brighter = worse reconstructed).",
        lambda d: sample_plots.reconstruction_grid(*d.samples, d.detector.error_maps(d.X), d.scores, d.threshold),
        frozenset({"image", "reconstructions"}),
    ),
    FigureSpec(
        "window-reconstructions",
        "Windows and reconstructions",
        "The highest-scoring windows and the most typical ones, drawn against the network's "
        "reconstruction; the shaded gap is the error.",
        lambda d: sample_plots.window_reconstructions(
            *d.samples,
            d.window_scores,
            d.threshold,
            starts=None if d.points is None else d.points.window_starts(len(d.window_scores)),
            time_name=None if d.points is None else d.points.time_name,
        ),
        frozenset({"series", "reconstructions"}),
    ),
    FigureSpec(
        "series-scores",
        "The series and its anomaly scores over time",
        "Each value column against time, with the flagged time points marked, and each time point's score "
        "(from the windows that cover it, as 'score' and 'evaluate' give it) against the threshold.",
        lambda d: sample_plots.series_scores(
            d.points.times, d.points.values, d.scores, d.threshold, _labels_if_any(d), d.points.time_name
        ),
        frozenset({"series", "points"}),
    ),
    FigureSpec(
        "latent-space",
        "Latent space",
        "The latent codes (one per row, image or window) projected to two dimensions with PCA. The axes span "
        "the 1st to 99th percentile of the points with a margin, so a few extreme codes do not squash the rest; "
        "points beyond are drawn at the edge and counted in the title.",
        lambda d: explanation_figures.latent_space(d.codes, d.window_scores, d.threshold, _window_labels_if_any(d)),
        frozenset({"rows", "codes"}),
    ),
]


# -- building -------------------------------------------------------------------------------------------
def build_figures(data: ReportData) -> tuple[dict[str, Figure], list[tuple[FigureSpec, str]]]:
    """The figures the data allow, by name, and the left-out ones with the reason."""
    built, skipped = {}, []
    for spec in FIGURES:
        missing = sorted(spec.requires - data.available)
        if set(missing) & DATA_KINDS:
            continue  # a figure for another kind of data is not "left out", it does not apply
        if missing:
            skipped.append((spec, "; ".join(REQUIREMENTS.get(m, f"it needs {m}") for m in missing)))
        else:
            built[spec.name] = spec.build(data)
    return built, skipped


__all__ = ["DATA_KINDS", "FIGURES", "REQUIREMENTS", "FigureSpec", "build_figures"]
