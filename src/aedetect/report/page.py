"""A self-contained HTML report of a fitted detector on a data set: figures, metrics, model summary.

The page embeds every figure as a base64 PNG, so it opens from disk with no network; everything taken
from the data or the model (the source's name, the module structure, labels of classes) is HTML-escaped,
and a Content-Security-Policy lets the page load nothing and run no script. Which figures
exist is decided by :data:`FIGURES`, a list of :class:`FigureSpec`: a figure is one function in a figure
module (:mod:`aedetect.report.score_figures`, say) plus one entry here that says what data it needs. A
figure whose needs the data do not meet (no labels, say) is left out, and the page says why.

Examples
--------
>>> [spec.name for spec in FIGURES if "labels" in spec.requires]
['roc-pr-curves', 'threshold-metrics', 'confusion-matrix']

``write_report(detector, X, y, path="report.html", source="test.csv", figures_dir="figures")`` writes
the page (and, with ``figures_dir``, every figure as PNG and SVG).
"""

from __future__ import annotations

import base64
import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd
from jinja2 import Environment, PackageLoader
from markupsafe import Markup
from matplotlib.figure import Figure

from aedetect.batch.core import RowScoringCore, ScoredRows
from aedetect.data.io import atomic_write, check_output_folder
from aedetect.diagnostics import Diagnosis, diagnose
from aedetect.evaluation import Evaluation, ThresholdMeaning, evaluate
from aedetect.report import explanation_figures, explorer, score_figures
from aedetect.report import sample_figures as sample_plots
from aedetect.report.style import spans_decades

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


def _name(value):
    """A row's name for the page: numbers stay numbers (so they sort as numbers), the rest is text."""
    if isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool):
        return value.item() if isinstance(value, np.generic) else value
    return str(value)


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


#: The page shows a figure at DISPLAY_PPI CSS pixels per inch (a little larger than print size, so the
#: labels read like the page's text); the PNG has more pixels than that, so it stays sharp when zoomed.
DISPLAY_PPI, PNG_DPI = 112, 150


def figure_png(figure: Figure) -> bytes:
    """The figure as PNG bytes (drawn once, shared by the page and the figures folder)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=PNG_DPI)
    return buffer.getvalue()


def _embedded(figure: Figure, png: bytes) -> tuple[str, int, int]:
    width, height = (figure.get_size_inches() * DISPLAY_PPI).round().astype(int)
    return base64.b64encode(png).decode("ascii"), int(width), int(height)


def _metric_rows(result: Evaluation) -> list[tuple[str, str, float | None]]:
    names = [
        ("roc_auc", "ROC-AUC"),
        ("pr_auc", "PR-AUC (average precision)"),
        ("precision", "precision"),
        ("recall", "recall"),
        ("f1", "F1"),
        ("precision_at_n", "precision@n (n = number of anomalies)"),
        ("false_alarm_rate", "false-alarm rate"),
    ]
    return [(key, label, getattr(result, key)) for key, label in names]


def _summary(data: ReportData) -> dict:
    detector = data.detector
    members = getattr(detector, "members_", None) or [detector]  # an ensemble: its members share one design
    member = members[0]
    history = getattr(detector, "history_", None)
    model = getattr(member, "model_", None)
    n_parameters = sum(p.numel() for m in members for p in m.model_.parameters()) if model is not None else 0
    network = type(model).__name__ if model is not None else "unknown"
    scores = data.scores
    return {
        "source": data.source,
        "rows": len(scores),
        "unit": data.unit,
        "features": int(detector.n_features_in_),
        "encoded_features": len(getattr(member, "feature_names_out_", ())) or int(detector.n_features_in_),
        "anomalies": None if data.labels is None else int(np.sum(data.labels)),
        "network": network if len(members) == 1 else f"ensemble of {len(members)} × {network}",
        "model": str(model),
        "parameters": n_parameters,
        "latent_dim": getattr(getattr(member, "model_config_", None), "latent_dim", None),
        "score": getattr(member, "score", "unknown"),
        "loss": getattr(member, "loss", "unknown"),
        "seconds": None if history is None else history.seconds,
        "epochs": None if history is None else history.stopped_epoch,
        "best_epoch": None if history is None else history.best_epoch,
        "rule": detector.threshold_rule_.to_spec(),
        "threshold": data.threshold,
        "flagged": data.scored.flagged,
        "flagged_share": float(data.scored.flags.mean()),
    }


# Every value is escaped: the source's name, class names and the like come from the user's files.
_environment = Environment(loader=PackageLoader("aedetect.report", "templates"), autoescape=True)
# Exact values in data-value attributes, so a reader (or a test) never has to parse rounded text.
_environment.filters["exact"] = lambda value: "null" if value is None else repr(float(value))


def report_data(detector, X, y=None, source: str = "data", series=None) -> ReportData:
    """The :class:`ReportData` of ``detector`` on ``X``: with ``series`` (read by
    :func:`aedetect.data.inputs.read_windows`; ``X`` its windows) per time point, labels ``y`` too."""
    points = None
    if series is not None:
        meta = getattr(detector, "metadata_", None) or {}
        points = series_points(series, meta.get("timestamp_column"))
    rows = len(X) if points is None else points.n_points
    return ReportData(detector, X, _check_y(y, rows), source, points)


def render_report(detector, X, y=None, source: str = "data", series=None) -> str:
    """The report's HTML: one self-contained page (figures inline as base64 PNG)."""
    data = report_data(detector, X, y, source, series)
    figures, skipped = build_figures(data)
    return _render(data, figures, {name: figure_png(f) for name, f in figures.items()}, skipped)


def _render(
    data: ReportData, figures: dict[str, Figure], pngs: dict[str, bytes], skipped: list[tuple[FigureSpec, str]]
) -> str:
    from aedetect._version import __version__

    specs = {spec.name: spec for spec in FIGURES}
    shown = [
        dict(name=name, title=specs[name].title, caption=specs[name].caption, png=_embedded(figure, pngs[name]))
        for name, figure in figures.items()
    ]
    code = explorer.script()
    digest = base64.b64encode(hashlib.sha256(code.encode("utf-8")).digest()).decode("ascii")
    state = data.explorer
    return _environment.get_template("report.html.j2").render(
        summary=_summary(data),
        meaning=data.meaning,
        warnings=data.warnings,
        explorer=state,
        explorer_json=explorer.embedded_json(state),
        explorer_now=explorer.metrics_at(state, state["model_index"]),
        explorer_svg=explorer.histogram_svg(state),
        explorer_script=Markup(code),
        script_hash=f"sha256-{digest}",
        evaluation=data.evaluation,
        figures=shown,
        metrics=_metric_rows(data.evaluation) if data.evaluation else [],
        skipped=[(spec.title, reason) for spec, reason in skipped],
        labelled=data.labels is not None,
        version=__version__,
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


def _check_y(y, n_rows: int) -> np.ndarray | None:
    if y is None:
        return None
    labels = np.asarray(y).ravel()
    if labels.shape[0] != n_rows:
        raise ValueError(f"y has {labels.shape[0]} labels but X has {n_rows} rows; give one label per row.")
    if not np.isin(labels, (0, 1)).all():
        raise ValueError("Labels must be 0 (normal) or 1 (anomaly); map them to 0/1 first.")
    return labels.astype(np.int64)


# -- writing --------------------------------------------------------------------------------------------
def check_writable(path: Path) -> Path:
    """Fail early, with one clear sentence, when ``path`` cannot be written."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(
            f"Cannot write the report to {str(path)!r}: it is a directory; give a file name like report.html."
        )
    return check_output_folder(path)


def write_figures(figures: dict[str, Figure], folder, pngs: dict[str, bytes] | None = None) -> list[Path]:
    """Save each figure as ``NAME.png`` and ``NAME.svg`` in ``folder`` (created when missing).

    ``pngs`` may hold PNG bytes already drawn by :func:`figure_png`, so they are not drawn twice.
    """
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ValueError(f"Cannot write figures to {str(folder)!r}: it is a file; give a folder.")
    folder.mkdir(parents=True, exist_ok=True)
    check_writable(folder / "figure.png")
    written = []
    pngs = pngs or {}
    for name, figure in figures.items():
        png = pngs.get(name) or figure_png(figure)
        atomic_write(folder / f"{name}.png", lambda tmp, b=png: Path(tmp).write_bytes(b))
        atomic_write(folder / f"{name}.svg", lambda tmp, f=figure: f.savefig(tmp, format="svg"))
        written += [folder / f"{name}.png", folder / f"{name}.svg"]
    return written


def write_report(
    detector, X, y=None, path="report.html", source: str | None = None, figures_dir=None, series=None
) -> Path:
    """Write the HTML report of ``detector`` on ``X`` (labels ``y``, 1 = anomaly, optional) to ``path``.

    Parameters
    ----------
    detector : fitted AutoencoderDetector
    X : DataFrame or array with the training columns
    y : array of 0/1, optional
        Without labels the label-based figures and metrics are left out; the page says so.
    path : str or Path
        The HTML file to write (atomically: a temporary file, then a rename).
    source : str, optional
        How the page names the data (a file path, ``dataset:NAME``).
    figures_dir : str or Path, optional
        Also save every figure there as PNG and SVG.
    series : aedetect.data.inputs.Series, optional
        For a series model: the series read by :func:`aedetect.data.inputs.read_windows`, whose windows
        are ``X``. Scores, metrics and the threshold explorer are then per time point (``y``: one
        label per point), as ``score`` and ``evaluate`` give them, and figures show the series' times.

    Returns
    -------
    Path of the written report.
    """
    path = check_writable(Path(path))
    data = report_data(detector, X, y, source or "data", series)
    figures, skipped = build_figures(data)
    pngs = {name: figure_png(figure) for name, figure in figures.items()}
    if figures_dir is not None:
        write_figures(figures, figures_dir, pngs)
    html = _render(data, figures, pngs, skipped)
    atomic_write(path, lambda tmp: Path(tmp).write_text(html, encoding="utf-8"))
    return path


__all__ = [
    "FIGURES",
    "FigureSpec",
    "ReportData",
    "SeriesPoints",
    "report_data",
    "series_points",
    "build_figures",
    "figure_png",
    "render_report",
    "write_figures",
    "write_report",
]
