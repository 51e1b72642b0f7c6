"""The drift page (``aedetect monitor MODEL DATA -o drift.html``): one self-contained HTML file.

The verdict and one line per check, then the figures: the recent score distribution with the
threshold (the report's figure), recent against held-out normal scores (what the Kolmogorov-Smirnov
test compares), and the features whose errors and inputs moved most. Figures are embedded PNGs; the
page loads nothing from anywhere.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from aedetect.data.io import atomic_write
from aedetect.monitor.checks import CheckResult
from aedetect.monitor.drift import DriftReport, Observed
from aedetect.report.page import figure_png
from aedetect.report.score_figures import score_distribution
from aedetect.report.style import ANOMALY, NORMAL, SCORE_LABEL, new_figure, styled

TOP_FEATURES = 12


@styled
def score_curves(recent: np.ndarray, calibration: np.ndarray, threshold: float) -> Figure:
    """Cumulative share of recent and held-out normal scores: the KS distance is the widest gap."""
    figure = new_figure(7.6, 3.6)
    ax = figure.subplots()
    for values, colour, name in ((calibration, NORMAL, "held-out normal rows"), (recent, ANOMALY, "new rows")):
        ordered = np.sort(values)
        ax.step(
            ordered,
            np.arange(1, ordered.size + 1) / ordered.size,
            where="post",
            color=colour,
            label=f"{name} ({ordered.size:,})",
        )
    ax.axvline(threshold, color="black", linestyle="--", linewidth=1.2, label="threshold")
    ax.set_xlabel(SCORE_LABEL)
    ax.set_ylabel("share of rows at or below")
    ax.set_title("New scores against held-out normal scores")
    figure.legend(loc="outside lower center", ncols=3, frameon=False)
    return figure


@styled
def feature_bars(check: CheckResult, label: str) -> Figure:
    """The features that moved most in a per-feature check."""
    shown = check.features[:TOP_FEATURES][::-1]
    figure = new_figure(7.6, 0.32 * len(shown) + 1.4)
    ax = figure.subplots()
    values = [f.change if label.startswith("mean") else f.statistic for f in shown]
    colours = [ANOMALY if f.p_value == f.p_value and f.p_value < 0.01 else NORMAL for f in shown]
    ax.barh(np.arange(len(shown)), values, color=colours)
    ax.set_yticks(np.arange(len(shown)), [f.feature[:24] for f in shown])
    if label.startswith("mean"):
        ax.axvline(1.0, color="black", linestyle="--", linewidth=1)
    ax.set_xlabel(label)
    ax.set_title(f"{check.title}: the features that moved most")
    return figure


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<title>aedetect drift: {source}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}}
table{{border-collapse:collapse}}td,th{{border-bottom:1px solid #ddd;padding:.35em .7em;text-align:left;vertical-align:top}}
.drift{{color:#b3001b;font-weight:bold}}.ok{{color:#006d2c}}img{{max-width:100%;height:auto}}</style></head>
<body><h1>Drift of {source}</h1>
<p id="verdict" class="{verdict_class}">{verdict}</p>
<table><tr><th>check</th><th>verdict</th><th>statistic</th><th>p-value</th><th>what it saw</th></tr>{rows}</table>
{figures}
<p>Each check's p-value is adjusted with the others' by Holm's method: on data like the training data, the chance
that any check reports drift is at most {alpha:g}. Model: {model}.</p>
</body></html>
"""


def write_page(
    report: DriftReport, observed: Observed, detector, threshold: float, path, source: str, model: str
) -> Path:
    """Write the drift page to ``path`` (atomically)."""
    figures = [
        ("Score distribution of the new rows", score_distribution(observed.scores, threshold)),
        (
            "Scores against held-out normal scores",
            score_curves(observed.scores, detector.calibration_scores_, threshold),
        ),
    ]
    for check in report.checks:
        if check.features and check.name == "feature_errors":
            figures.append((check.title, feature_bars(check, "mean error over its normal level")))
        elif check.features and check.available:
            figures.append((check.title, feature_bars(check, "chi-square statistic on the training deciles")))
    blocks = []
    for title, figure in figures:
        png = base64.b64encode(figure_png(figure)).decode("ascii")
        blocks.append(
            f'<h2>{html.escape(title)}</h2><img alt="{html.escape(title)}" src="data:image/png;base64,{png}">'
        )
    rows = "".join(
        f'<tr><td>{html.escape(c.title)}</td><td class="{"drift" if c.drifted else "ok"}">'
        f"{'drift' if c.drifted else ('ok' if c.available else 'n/a')}</td>"
        f"<td>{'' if c.statistic is None else f'{c.statistic:.4g}'}</td>"
        f"<td>{'' if c.p_value is None else f'{c.p_value:.3g}'}</td><td>{html.escape(c.detail)}</td></tr>"
        for c in report.checks
    )
    text = _PAGE.format(
        source=html.escape(source),
        verdict=html.escape(report.lines()[-1]),
        verdict_class="drift" if report.drifted else "ok",
        rows=rows,
        figures="\n".join(blocks),
        alpha=report.alpha,
        model=html.escape(model),
    )
    return atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


__all__ = ["write_page"]
