"""The report's page: a self-contained HTML page of a fitted detector on a data set (figures, metrics,
model summary, the threshold explorer), rendered and written, with the figures as PNG and SVG files.

The page embeds every figure as a base64 PNG, so it opens from disk with no network; everything taken
from the data or the model (the source's name, the module structure, labels of classes) is HTML-escaped,
and a Content-Security-Policy lets the page load nothing and run no script. What the page is built from
is :mod:`aedetect.report.data`; which figures it shows, :mod:`aedetect.report.figure_specs`.

``write_report(detector, X, y, path="report.html", source="test.csv", figures_dir="figures")`` writes
the page (and, with ``figures_dir``, every figure as PNG and SVG).
"""

from __future__ import annotations

import base64
import hashlib
import io
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from jinja2 import Environment, PackageLoader
from markupsafe import Markup
from matplotlib.figure import Figure

from aedetect.data.io import atomic_write, check_output_folder
from aedetect.evaluation import Evaluation
from aedetect.report import explorer, figure_specs
from aedetect.report.data import ReportData, report_data
from aedetect.report.figure_specs import FigureSpec, build_figures

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


def render_report(detector, X, y=None, source: str = "data", series=None) -> str:
    """The report's HTML: one self-contained page (figures inline as base64 PNG)."""
    data = report_data(detector, X, y, source, series)
    figures, skipped = build_figures(data)
    return _render(data, figures, {name: figure_png(f) for name, f in figures.items()}, skipped)


def _render(
    data: ReportData, figures: dict[str, Figure], pngs: dict[str, bytes], skipped: list[tuple[FigureSpec, str]]
) -> str:
    from aedetect._version import __version__

    specs = {spec.name: spec for spec in figure_specs.FIGURES}  # read now: a caller may replace the registry
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


__all__ = ["figure_png", "render_report", "write_figures", "write_report"]
