"""Figures that explain the flags: the features behind the top anomalies, the features whose errors
differ most on flagged rows, and the latent space.

Like :mod:`aedetect.report.score_figures`, plain data in and a matplotlib Figure out, under the house
style of :mod:`aedetect.report.style`.

Examples
--------
>>> import numpy as np
>>> rows, flagged = top_rows(np.array([0.1, 3.0, 0.2, 2.0]), threshold=1.0, top_k=3)
>>> rows.tolist(), flagged
([1, 3], True)
"""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from aedetect.report.style import (
    ANOMALY,
    NORMAL,
    SCORE_LABEL,
    log_scale,
    new_figure,
    short_label,
    spans_decades,
    styled,
)

#: Above this many points a scatter plot keeps every anomaly and a random sample of the rest.
MAX_POINTS = 4000


def top_rows(scores: np.ndarray, threshold: float, top_k: int) -> tuple[np.ndarray, bool]:
    """The ``top_k`` highest-scoring flagged rows, highest first, and ``True``; without a flagged row the
    ``top_k`` highest-scoring rows and ``False``."""
    order = np.argsort(-scores, kind="stable")
    flagged = order[scores[order] > threshold]
    return (flagged[:top_k], True) if flagged.size else (order[:top_k], False)


@styled
def top_anomaly_features(
    errors: pd.DataFrame,
    scores,
    threshold: float,
    top_k: int = 6,
    top_features: int = 5,
    unit: str = "reconstruction error",
    labels=None,
    row_name: str = "position",
    names=None,
) -> Figure:
    """For each of the ``top_k`` highest-scoring flagged rows, its features with the largest error.

    A panel names its row ``"{row_name} {name}"``: by default the row's 0-based position in ``errors``,
    or ``names[position]``; with ``labels`` (0/1 per row, 1 = anomaly) it says how the row is labelled.
    """
    scores = np.asarray(scores, dtype=float)
    rows, any_flagged = top_rows(scores, threshold, top_k)
    columns = min(3, max(len(rows), 1))
    n_grid = max(int(np.ceil(len(rows) / columns)), 1)
    what = "flagged rows" if any_flagged else "highest-scoring rows (none is flagged)"
    title = f"Features that drive the top {len(rows)} {what}"
    figure = new_figure(3.6 * columns + 0.6, 2.3 * n_grid + 0.5, title)
    axes = np.atleast_1d(figure.subplots(n_grid, columns, squeeze=False).ravel())
    for ax, row in zip(axes, rows, strict=False):
        values = errors.iloc[int(row)].sort_values(ascending=False).head(top_features)[::-1]
        ax.barh([short_label(str(name)) for name in values.index], values.to_numpy(), color=ANOMALY)
        name = short_label(str(int(row) if names is None else names[int(row)]))
        label = "" if labels is None else (", labelled anomaly" if labels[int(row)] == 1 else ", labelled normal")
        ax.set_title(f"{row_name} {name}{label}: score {scores[row]:.3g}", fontsize=9)
        ax.grid(axis="y", visible=False)
    for ax in axes[len(rows) :]:
        ax.set_visible(False)
    figure.supxlabel(unit, fontsize=10)
    return figure


@styled
def feature_error_summary(
    errors: pd.DataFrame, scores, threshold: float, top_features: int = 12, unit: str = "reconstruction error"
) -> Figure:
    """Mean error per feature on flagged against unflagged rows, for the features that differ most."""
    scores = np.asarray(scores, dtype=float)
    flagged = scores > threshold
    group = "flagged rows"
    if not flagged.any():  # explain the highest-scoring rows instead of showing nothing
        flagged = scores >= np.quantile(scores, 0.99)
        group = "the top 1 % of scores"
        flagged_name = f"top 1 % of scores ({int(flagged.sum())} rows; none is flagged)"
    else:
        flagged_name = f"flagged rows ({int(flagged.sum())})"
    high = errors[flagged].mean()
    rest = errors[~flagged].mean() if (~flagged).any() else high * 0
    order = (high - rest).sort_values(ascending=False).head(top_features).index[::-1]
    figure = new_figure(7.6, 0.32 * len(order) + 1.6)
    ax = figure.subplots()
    positions = np.arange(len(order))
    ax.barh(positions + 0.2, high[order].to_numpy(), height=0.4, color=ANOMALY, label=flagged_name)
    ax.barh(
        positions - 0.2, rest[order].to_numpy(), height=0.4, color=NORMAL, label=f"other rows ({int((~flagged).sum())})"
    )
    ax.set_yticks(positions, [short_label(str(name)) for name in order])
    ax.grid(axis="y", visible=False)
    shown = np.r_[high[order].to_numpy(), rest[order].to_numpy()]
    shown = shown[shown > 0]
    log_x = shown.size > 1 and shown.max() / shown.min() > 30
    if log_x:  # flagged rows' errors dwarf the others': a log axis keeps both readable
        log_scale(ax, "x")
        ax.set_xlim(shown.min() / 2, shown.max() * 1.5)
    ax.set_xlabel(f"mean {unit}" + (", log scale" if log_x else ""))
    ax.set_title(f"Features with the largest excess error on {group} (top {len(order)})")
    figure.legend(loc="outside lower center", ncols=2, frameon=False)
    return figure


# -- latent space ---------------------------------------------------------------------------------------
def _sample_groups(groups: list[np.ndarray], max_points: int, random_state: int) -> np.ndarray:
    """Sorted row indices: each group's rows, or a random ``max_points`` of them when it has more."""
    rng = np.random.default_rng(random_state)
    kept = [rows if rows.size <= max_points else rng.choice(rows, max_points, replace=False) for rows in groups]
    return np.sort(np.concatenate(kept)).astype(np.intp)


def _count(shown: int, total: int) -> str:
    return f"{total:,}" if shown == total else f"{shown:,} of {total:,}"


def _explained(share: float) -> str:
    return f"{share:.0%} of latent variance" if np.isfinite(share) else "the codes do not vary"


def _robust_limits(points: np.ndarray, margin: float = 0.25) -> tuple[np.ndarray, list[tuple[float, float]], int]:
    """Axis limits from the 1st to 99th percentile of each column, widened by ``margin`` of that span;
    the points clipped to them (drawn at the edge) and how many lay beyond."""
    limits, clipped = [], points.copy()
    outside = np.zeros(len(points), dtype=bool)
    for column in range(points.shape[1]):
        values = points[:, column]
        q_low, q_high = np.percentile(values, [1, 99])
        span = q_high - q_low if q_high > q_low else max(abs(q_high), 1.0)
        # Points only a little beyond stay in view: the limits reach every point within two margins.
        near = values[(values >= q_low - 2 * margin * span) & (values <= q_high + 2 * margin * span)]
        near = near if near.size else values
        low = min(q_low - margin * span, float(near.min()) - 0.02 * span)
        high = max(q_high + margin * span, float(near.max()) + 0.02 * span)
        outside |= (values < low) | (values > high)
        clipped[:, column] = np.clip(values, low, high)
        limits.append((float(low), float(high)))
    return clipped, limits, int(outside.sum())


@styled
def latent_space(
    codes, scores, threshold: float, labels=None, random_state: int = 0, max_points: int = MAX_POINTS
) -> Figure:
    """Latent codes projected on their first two principal components, coloured by label or by score.

    With more than ``max_points`` rows, each group (anomalies and the rest) keeps at most ``max_points``
    rows, drawn at random with a fixed seed, so the plot stays legible; the title says how many are shown.
    Needs at least two rows.
    """
    from sklearn.decomposition import PCA

    codes, scores = np.asarray(codes, dtype=float), np.asarray(scores, dtype=float)
    if len(codes) < 2:
        raise ValueError(f"The latent-space figure needs at least 2 rows; got {len(codes)}.")
    important = (scores > threshold) if labels is None else (np.asarray(labels) == 1)
    keep = _sample_groups([np.flatnonzero(important), np.flatnonzero(~important)], max_points, random_state)
    n_components = min(2, codes.shape[1])
    with np.errstate(invalid="ignore", divide="ignore"):  # codes that do not vary: 0 / 0 variance shares
        pca = PCA(n_components=n_components, random_state=random_state).fit(codes)
    projected = pca.transform(codes[keep])
    explained = pca.explained_variance_ratio_
    if n_components == 1:  # a 1-D code: spread the points by score instead
        projected = np.column_stack([projected[:, 0], scores[keep]])
    projected, limits, n_outside = _robust_limits(projected)
    sampled = f" ({len(keep):,} of {len(codes):,} rows shown)" if len(keep) < len(codes) else ""
    if n_outside:
        sampled += (
            f"\n{n_outside:,} point{'s' if n_outside > 1 else ''} beyond the 1st-99th percentile drawn at the edge"
        )
    figure = new_figure(7.0, 5.0)
    ax = figure.subplots()
    if labels is not None:
        all_labels = np.asarray(labels)
        labels = all_labels[keep]
        groups = ((0, "normal", NORMAL, "o", 10), (1, "anomaly", ANOMALY, "^", 28))
        for value, name, colour, marker, size in groups:
            part = labels == value
            count = _count(int(part.sum()), int((all_labels == value).sum()))
            ax.scatter(
                projected[part, 0],
                projected[part, 1],
                s=size,
                c=colour,
                marker=marker,
                alpha=0.6,
                linewidths=0,
                label=f"{name} ({count})",
                rasterized=True,
            )
        ax.legend(loc="best", markerscale=1.5)
        ax.set_title("Latent space (PCA), by label" + sampled)
    else:
        order = np.argsort(scores[keep])  # high scores drawn last, on top
        points = ax.scatter(
            projected[order, 0],
            projected[order, 1],
            c=scores[keep][order],
            cmap="viridis",
            s=12,
            alpha=0.8,
            linewidths=0,
            rasterized=True,
            norm=matplotlib.colors.LogNorm() if spans_decades(scores) else None,
        )
        marked = important[keep]
        ax.scatter(
            projected[marked, 0],
            projected[marked, 1],
            s=40,
            facecolors="none",
            edgecolors=ANOMALY,
            linewidths=1.2,
            label=f"flagged ({_count(int(marked.sum()), int(important.sum()))})",
        )
        figure.colorbar(points, ax=ax, label=SCORE_LABEL)
        ax.legend(loc="best")
        ax.set_title("Latent space (PCA), by anomaly score" + sampled)
    ax.set_xlim(*limits[0])
    ax.set_ylim(*limits[1])
    ax.set_xlabel(f"principal component 1 ({_explained(explained[0])})")
    ax.set_ylabel(f"principal component 2 ({_explained(explained[1])})" if n_components == 2 else SCORE_LABEL)
    return figure
