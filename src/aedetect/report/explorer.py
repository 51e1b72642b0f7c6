"""The report's threshold explorer: a slider over the score histogram that shows, live, what each
threshold would flag.

Everything the page shows is counted here, in Python, over every scored row: for each threshold on
the slider's grid, how many rows, labelled anomalies and held-out normal rows lie above it (a row is
flagged when its score is above the threshold, as everywhere). The page's script only divides
these counts, the way :func:`aedetect.evaluation.evaluate` does, so at the model's own threshold (one
of the grid's values) its numbers are :func:`~aedetect.evaluation.evaluate`'s exactly. The flagged-rows
table holds at most :data:`MAX_TABLE_ROWS` of the highest-scoring rows, and the page says so.

Examples
--------
>>> import numpy as np
>>> data = explorer_data(np.arange(10.0), threshold=6.5, rule="fixed:6.5", calibration_scores=np.arange(5.0))
>>> k = data["model_index"]
>>> data["grid"][k], data["flagged"][k], data["held_out_above"][k]
(6.5, 3, 0)
"""

from __future__ import annotations

import json

import numpy as np
from markupsafe import Markup

#: Steps of the slider between the lowest and the highest score (the model's threshold is added).
GRID_STEPS = 1000
#: Bars of the histogram under the slider.
HISTOGRAM_BINS = 80
#: Rows listed in the flagged-rows table at most (the highest-scoring ones).
MAX_TABLE_ROWS = 500
#: The histogram's drawing area, in CSS pixels: the slider spans the same width under it.
WIDTH, HEIGHT, LEFT, RIGHT, TOP, BOTTOM = 760, 230, 58, 14, 12, 40


def _above(sorted_scores: np.ndarray, grid: np.ndarray) -> list[int]:
    """How many of ``sorted_scores`` lie strictly above each grid value."""
    return (sorted_scores.size - np.searchsorted(sorted_scores, grid, side="right")).astype(int).tolist()


def _grid(scores: np.ndarray, threshold: float, log: bool) -> tuple[np.ndarray, float, float]:
    low, high = float(scores.min()), float(max(scores.max(), threshold))
    if high <= low:
        return np.unique(np.array([low, threshold])), low, high
    steps = np.geomspace(low, high, GRID_STEPS + 1) if log else np.linspace(low, high, GRID_STEPS + 1)
    return np.unique(np.r_[steps, threshold]), low, high


def explorer_data(
    scores,
    threshold: float,
    rule: str,
    calibration_scores=None,
    labels=None,
    log: bool = False,
    rows: dict | None = None,
) -> dict:
    """What the page embeds: the grid of thresholds, the counts above each, the histogram and the rows.

    Parameters
    ----------
    scores : array of the scored rows' anomaly scores
    threshold, rule : the model's threshold and the spec of the rule that set it
    calibration_scores : scores of held-out normal rows (the detector's ``calibration_scores_``)
    labels : 0/1 per row (1 = anomaly), optional
    log : whether the score axis is logarithmic (all scores positive)
    rows : the flagged-rows table: ``{"name": column heading, "names": one per row,
        "features": top features per row (or None)}``
    """
    scores = np.asarray(scores, dtype=np.float64).ravel()
    threshold = float(threshold)
    grid, low, high = _grid(scores, threshold, log)
    held_out = np.sort(np.asarray([] if calibration_scores is None else calibration_scores, dtype=np.float64).ravel())
    data = {
        "rows": int(scores.size),
        "rule": rule,
        "threshold": threshold,
        "grid": grid.tolist(),
        "model_index": int(np.searchsorted(grid, threshold)),
        "flagged": _above(np.sort(scores), grid),
        "held_out": int(held_out.size),
        "held_out_above": _above(held_out, grid),
        "axis": {"low": low, "high": high, "log": bool(log), "left": LEFT, "width": WIDTH - LEFT - RIGHT},
    }
    labelled = labels is not None
    if labelled:
        labels = np.asarray(labels).astype(np.int64).ravel()
        data["anomalies"] = int(labels.sum())
        data["true_positives"] = _above(np.sort(scores[labels == 1]), grid)
    data["histogram"] = _histogram(scores, labels, low, high, log)
    data["table"] = _table(scores, labels, rows or {})
    return data


def _histogram(scores: np.ndarray, labels, low: float, high: float, log: bool) -> dict:
    if high <= low:
        high = low + 1.0
    edges = np.geomspace(low, high, HISTOGRAM_BINS + 1) if log else np.linspace(low, high, HISTOGRAM_BINS + 1)
    groups = [("all rows", scores)]
    if labels is not None:
        groups = [("normal", scores[labels == 0]), ("anomaly", scores[labels == 1])]
    counts = [np.histogram(part, edges)[0] for _, part in groups]
    return {"edges": edges.tolist(), "groups": [name for name, _ in groups], "counts": [c.tolist() for c in counts]}


def _table(scores: np.ndarray, labels, rows: dict) -> dict:
    order = np.argsort(-scores, kind="stable")[:MAX_TABLE_ROWS]
    names = rows.get("names")
    features = rows.get("features")
    listed = []
    for rank, position in enumerate(order.tolist()):
        listed.append(
            [
                str(names[position]) if names is not None else position,
                float(scores[position]),
                None if labels is None else int(labels[position]),
                None if features is None else features[rank],
            ]
        )
    return {"name": rows.get("name", "position (from 0)"), "rows": listed, "has_features": features is not None}


def metrics_at(data: dict, index: int) -> dict:
    """The numbers the page shows at grid value ``index``, computed as the page's script does."""
    flagged, rows = data["flagged"][index], data["rows"]
    out = {
        "threshold": data["grid"][index],
        "flagged": flagged,
        "flagged_share": flagged / rows,
        "held_out_rate": data["held_out_above"][index] / data["held_out"] if data["held_out"] else None,
    }
    if "anomalies" in data:
        anomalies, tp = data["anomalies"], data["true_positives"][index]
        fp = flagged - tp
        out.update(
            precision=tp / flagged if flagged else 0.0,
            recall=tp / anomalies if anomalies else 0.0,
            f1=2 * tp / (anomalies + flagged) if anomalies + flagged else 0.0,
            false_alarm_rate=fp / (rows - anomalies) if rows > anomalies else None,
            confusion_matrix=[[rows - anomalies - fp, fp], [anomalies - tp, tp]],
        )
    return out


def histogram_svg(data: dict) -> Markup:
    """The histogram under the slider as inline SVG (numbers only: nothing from the data is text here)."""
    axis, histogram = data["axis"], data["histogram"]
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    counts = np.asarray(histogram["counts"], dtype=float)
    log_y = counts.max() > 50 * max(float(np.median(counts[counts > 0])) if (counts > 0).any() else 1.0, 1.0)
    top = np.log10(counts.max() + 1) if log_y else max(counts.max(), 1)

    def y_of(count):
        return TOP + plot_height * (1 - ((np.log10(count + 1) if log_y else count) / top))

    parts = [
        f'<svg id="explorer-histogram" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        'role="img" aria-label="score histogram with the threshold">'
    ]
    colours = ["#0072B2", "#D55E00"] if len(counts) == 2 else ["#0072B2"]
    x_edges = [x_of(data, edge) for edge in histogram["edges"]]
    for group, colour in zip(counts, colours, strict=True):
        for left, right, count in zip(x_edges[:-1], x_edges[1:], group, strict=True):
            if count:
                y = y_of(count)
                parts.append(
                    f'<rect x="{left:.2f}" y="{y:.2f}" width="{max(right - left, 0.5):.2f}" '
                    f'height="{TOP + plot_height - y:.2f}" fill="{colour}" fill-opacity="0.5"/>'
                )
    bottom = TOP + plot_height
    parts.append(f'<line x1="{LEFT}" y1="{bottom}" x2="{LEFT + plot_width}" y2="{bottom}" stroke="#59636e"/>')
    parts.append(f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" stroke="#59636e"/>')
    for value in _ticks(axis["low"], axis["high"], axis["log"]):
        x = x_of(data, value)
        parts.append(f'<line x1="{x:.2f}" y1="{bottom}" x2="{x:.2f}" y2="{bottom + 4}" stroke="#59636e"/>')
        parts.append(f'<text x="{x:.2f}" y="{bottom + 16}" text-anchor="middle" class="tick">{value:g}</text>')
    for count in _count_ticks(counts.max(), log_y):
        y = y_of(count)
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.2f}" text-anchor="end" class="tick">{count:,}</text>')
    x_label = "anomaly score" + (" (log scale)" if axis["log"] else "")
    parts.append(f'<text x="{LEFT + plot_width / 2}" y="{HEIGHT - 4}" text-anchor="middle">{x_label}</text>')
    parts.append(
        f'<text x="12" y="{TOP + plot_height / 2}" text-anchor="middle" transform="rotate(-90 12 '
        f'{TOP + plot_height / 2})">rows{" (log scale)" if log_y else ""}</text>'
    )
    model_x = x_of(data, data["threshold"])
    parts.append(
        f'<line id="explorer-line" x1="{model_x:.2f}" y1="{TOP}" x2="{model_x:.2f}" y2="{bottom}" '
        'stroke="#009E73" stroke-width="2.5"/>'
    )
    parts.append(
        f'<line id="explorer-model-line" x1="{model_x:.2f}" y1="{TOP}" x2="{model_x:.2f}" y2="{bottom}" '
        'stroke="#000" stroke-dasharray="5 3" stroke-width="1.5"/>'
    )
    parts.append("</svg>")
    return Markup("".join(parts))


def x_of(data: dict, value: float) -> float:
    """The SVG x coordinate of a score (the page's script uses the same mapping)."""
    axis = data["axis"]
    low, high = axis["low"], axis["high"]
    if high <= low:
        return axis["left"] + axis["width"] / 2
    if axis["log"]:
        share = (np.log(value) - np.log(low)) / (np.log(high) - np.log(low))
    else:
        share = (value - low) / (high - low)
    return float(axis["left"] + axis["width"] * min(max(share, 0.0), 1.0))


def _ticks(low: float, high: float, log: bool) -> list[float]:
    import matplotlib.ticker

    locator = matplotlib.ticker.LogLocator(subs=(1.0,)) if log else matplotlib.ticker.MaxNLocator(6)
    if high <= low:
        return [low]
    return [float(v) for v in locator.tick_values(low, high) if low <= v <= high]


def _count_ticks(peak: float, log_y: bool) -> list[int]:
    if peak <= 0:
        return [0]
    if log_y:
        return [10**k for k in range(int(np.log10(peak)) + 1)]
    import matplotlib.ticker

    ticks = matplotlib.ticker.MaxNLocator(4, integer=True).tick_values(0, peak)
    return [int(v) for v in ticks if 0 <= v <= peak]


def embedded_json(data: dict) -> Markup:
    """``data`` as JSON that is safe inside a ``<script type="application/json">`` element."""
    text = json.dumps(data, separators=(",", ":"), allow_nan=False)
    return Markup(text.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e"))


def script() -> str:
    """The explorer's script, inlined in the page (the page's Content-Security-Policy allows only it).

    It lives beside the page's template (``templates/explorer.js.j2``, plain JavaScript with nothing
    for Jinja to fill in) so that it ships with the package like the template does.
    """
    from jinja2 import Environment, PackageLoader

    return Environment(loader=PackageLoader("aedetect.report", "templates")).get_template("explorer.js.j2").render()


__all__ = ["explorer_data", "embedded_json", "histogram_svg", "metrics_at", "script", "x_of"]
