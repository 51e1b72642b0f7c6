"""Figures of images and series: originals against reconstructions, and where the error is.

Like :mod:`aedetect.report.score_figures`, plain arrays in and a matplotlib Figure out, under the house style
of :mod:`aedetect.report.style`.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> images = rng.random((8, 6, 6))
>>> figure = reconstruction_grid(images, images * 0.9, (images * 0.1) ** 2, np.arange(8.0), threshold=5.5)
>>> len(figure.axes)  # 2 flagged and 3 typical images, 3 panels each
15
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from aedetect.report.explanation_figures import top_rows
from aedetect.report.style import ANOMALY, CYCLE, NORMAL, new_figure, short_label, styled


def _picks(scores: np.ndarray, threshold: float, per_side: int) -> list[tuple[int, str]]:
    """The highest-scoring samples (flagged first) and the most typical ones, for comparison."""
    top, flagged = top_rows(scores, threshold, per_side)
    typical = [int(i) for i in np.argsort(scores, kind="stable") if int(i) not in set(top.tolist())][:per_side]
    tag = "flagged" if flagged else "top"
    return [(int(i), tag) for i in top] + [(i, "typical") for i in typical]


def _display(image: np.ndarray) -> tuple[np.ndarray, dict]:
    """An image ready for imshow: grayscale with a fixed grey map, colour scaled into [0, 1]."""
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim == 2:
        return image, {"cmap": "gray"}
    low, high = float(image.min()), float(image.max())
    return np.clip((image - low) / max(high - low, 1e-12), 0, 1)[..., :3], {}


@styled
def reconstruction_grid(originals, reconstructions, error_maps, scores, threshold: float, per_side: int = 3):
    """Rows of original | reconstruction | error map, for the top-scoring and the most typical images."""
    scores = np.asarray(scores, dtype=float)
    picks = _picks(scores, threshold, per_side)
    figure = new_figure(6.6, 2.0 * len(picks) + 0.4, "Originals, reconstructions and where the error is")
    axes = figure.subplots(len(picks), 3, squeeze=False)
    vmax = float(np.quantile(np.asarray(error_maps)[[i for i, _ in picks]], 0.995)) or 1.0
    low = float(np.min([np.min(originals[i]) for i, _ in picks]))
    high = float(np.max([np.max(originals[i]) for i, _ in picks]))
    for row, (index, tag) in zip(axes, picks, strict=True):
        for ax, image, title in (
            (row[0], originals[index], "original"),
            (row[1], reconstructions[index], "reconstruction"),
        ):
            shown, style = _display(np.asarray(image, dtype=float))
            if style:
                style.update(vmin=low, vmax=high)
            ax.imshow(shown, **style)
            ax.set_title(f"{title} #{index}", fontsize=9)
        row[2].imshow(error_maps[index], cmap="magma", vmin=0, vmax=vmax)
        colour = ANOMALY if tag != "typical" else NORMAL
        row[2].set_title(f"{tag}: score {scores[index]:.3g}", fontsize=9, color=colour)
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
    return figure


@styled
def window_reconstructions(
    originals, reconstructions, scores, threshold: float, per_side: int = 2, starts=None, time_name=None
):
    """The top-scoring and most typical windows: the series and its reconstruction, per channel.

    ``starts`` (one per window) is the time of each window's first point, shown in its title; without
    it a window is named by its 0-based number.
    """
    scores = np.asarray(scores, dtype=float)
    picks = _picks(scores, threshold, per_side)
    figure = new_figure(7.5, 1.9 * len(picks) + 0.6, "Windows: series against reconstruction")
    axes = figure.subplots(len(picks), 1, squeeze=False)[:, 0]
    steps = np.arange(np.asarray(originals).shape[1])
    for ax, (index, tag) in zip(axes, picks, strict=True):
        original, rebuilt = np.asarray(originals[index]), np.asarray(reconstructions[index])
        for channel in range(original.shape[-1]):
            ax.plot(steps, original[:, channel], color=NORMAL, linewidth=1.2, label="series" if channel == 0 else None)
            ax.plot(
                steps,
                rebuilt[:, channel],
                color=ANOMALY,
                linewidth=1.0,
                linestyle="--",
                label="reconstruction" if channel == 0 else None,
            )
            ax.fill_between(steps, original[:, channel], rebuilt[:, channel], color=ANOMALY, alpha=0.15)
        where = f"window #{index}" if starts is None else f"window from {time_name} {_time(starts.iloc[index])}"
        ax.set_title(
            f"{where} ({tag}): score {scores[index]:.3g}",
            fontsize=9,
            color=ANOMALY if tag != "typical" else NORMAL,
        )
    axes[0].legend(loc="upper right", ncols=2)
    axes[-1].set_xlabel("time step in the window")
    return figure


def _time(value) -> str:
    return str(value).removesuffix(" 00:00:00")


@styled
def series_scores(times, values, scores, threshold: float, labels=None, time_name: str = "time"):
    """The series' value columns against time with flagged points marked, and each point's score.

    ``times`` (one per point: timestamps or numbers), ``values`` (a table, one column a channel),
    ``scores`` per time point; with ``labels`` (1 = anomaly) the labelled points are shaded.
    """
    times = pd.Series(times).reset_index(drop=True)
    values = pd.DataFrame(values).reset_index(drop=True)
    scores = np.asarray(scores, dtype=float)
    flagged = scores > threshold
    figure = new_figure(10.0, 5.4, "The series and its anomaly scores over time")
    value_ax, score_ax = figure.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    for number, column in enumerate(values.columns[:6]):
        value_ax.plot(times, values[column], linewidth=0.9, label=short_label(str(column)), color=CYCLE[number % 7])
    if flagged.any():
        first = values.columns[0]
        value_ax.scatter(
            times[flagged], values[first][flagged], s=12, color=ANOMALY, zorder=3, label=f"flagged ({flagged.sum():,})"
        )
    if labels is not None:
        labelled = np.asarray(labels) == 1
        for axis in (value_ax, score_ax):
            axis.fill_between(
                times,
                0,
                1,
                where=labelled,
                transform=axis.get_xaxis_transform(),
                color=ANOMALY,
                alpha=0.12,
                linewidth=0,
                label="labelled anomalous" if axis is value_ax else None,
            )
    value_ax.set_ylabel("value")
    value_ax.legend(loc="upper left", ncols=4, fontsize=8)
    score_ax.plot(times, scores, color=NORMAL, linewidth=0.9, label="score per time point")
    score_ax.axhline(threshold, color="black", linestyle="--", linewidth=1.2, label=f"threshold {threshold:.4g}")
    if np.all(scores > 0) and scores.max() / scores.min() > 30:
        score_ax.set_yscale("log")
    score_ax.set_ylabel("anomaly score")
    score_ax.set_xlabel(time_name)
    score_ax.legend(loc="upper left", ncols=2, fontsize=8)
    return figure
