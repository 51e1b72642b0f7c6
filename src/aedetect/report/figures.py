"""Figures of a fitted detector: one function per figure, plain data in, a matplotlib Figure out.

The functions know nothing about detectors or files: they take arrays, tables and numbers, so they
are easy to test and to reuse in a notebook. :mod:`aedetect.report.page` decides which data each one gets.
Figures are built on the Agg canvas directly (no ``pyplot`` state, safe in threads and servers) with
the Okabe-Ito palette, which stays distinguishable under the common colour-vision deficiencies.

Examples
--------
>>> import numpy as np
>>> figure = score_distribution(np.r_[np.linspace(0, 1, 90), np.linspace(2, 3, 10)], threshold=1.5)
>>> figure.axes[0].get_xlabel()
'anomaly score (higher = more anomalous)'
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import matplotlib
import matplotlib.ticker
import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_curve

#: Okabe & Ito (2008), "Color Universal Design".
OKABE_ITO = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "yellow": "#F0E442",
    "black": "#000000",
}
NORMAL, ANOMALY, THRESHOLD = OKABE_ITO["blue"], OKABE_ITO["vermillion"], OKABE_ITO["black"]
_CYCLE = [OKABE_ITO[k] for k in ("blue", "vermillion", "green", "orange", "purple", "sky", "black")]
STYLE = {
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "legend.framealpha": 0.9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": matplotlib.cycler(color=_CYCLE),
    "savefig.dpi": 110,
    "figure.dpi": 110,
    "svg.fonttype": "none",
}
SCORE_LABEL = "anomaly score (higher = more anomalous)"
#: Units of each training measure on scaled inputs (the preprocessing's scaler sets the unit).
UNITS = {
    "mse": "scaled units²",
    "huber": "scaled units² near 0",
    "mae": "scaled units",
    "rmse": "scaled units",
    "bce": "nats per feature",
}
#: Above this many points a scatter plot keeps every anomaly and a random sample of the rest.
MAX_POINTS = 4000


def _figure(width: float, height: float, title: str | None = None) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    if title:
        figure.suptitle(title, fontweight="bold", fontsize=12)
    return figure


def styled(function):
    """Build the figure under the house style without touching the caller's matplotlib settings."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs) -> Figure:
        with matplotlib.rc_context(STYLE):
            return function(*args, **kwargs)

    return wrapper


def _log_x(scores: np.ndarray) -> bool:
    """Scores spread over orders of magnitude read better on a log axis (needs positive scores)."""
    positive = scores[scores > 0]
    if positive.size < scores.size or positive.size < 2:
        return False
    return float(np.quantile(positive, 0.999) / np.quantile(positive, 0.01)) > 30


def _log_scale(ax, which: str) -> None:
    """A log axis labelled with plain numbers at 1-2-5 steps, which read faster than powers of ten."""
    getattr(ax, f"set_{which}scale")("log")
    axis = ax.xaxis if which == "x" else ax.yaxis
    low, high = sorted(getattr(ax, f"get_{which}lim")())
    decades = np.log10(high / low) if low > 0 else np.inf
    axis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0) if decades <= 3 else (1.0,)))
    axis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def _percent(share: float) -> str:
    return f"{share:.2%}" if share < 0.1 else f"{share:.1%}"


# -- training -----------------------------------------------------------------------------------------
@styled
def training_history(values: Mapping[str, list[float]], best_epoch: int = 0, loss_name: str = "") -> Figure:
    """Loss and each tracked metric per epoch, training against validation, best epoch marked.

    ``values`` uses Keras-style keys: ``loss``, ``val_loss``, ``mae``, ``val_mae``, ...
    """
    names = [k for k in values if not k.startswith("val_")]
    n_columns = min(3, max(len(names), 1))
    n_rows = int(np.ceil(len(names) / n_columns))
    width = 6.4 if n_columns == 1 else 4.2 * n_columns
    figure = _figure(width, 3.0 * n_rows + 0.7, "Training history")
    axes = figure.subplots(n_rows, n_columns, squeeze=False).ravel()
    for ax, name in zip(axes, names, strict=False):
        train = np.asarray(values[name], dtype=float)
        ax.plot(np.arange(1, train.size + 1), train, color=NORMAL, marker="o", markersize=3, label="training rows")
        if f"val_{name}" in values:
            val = np.asarray(values[f"val_{name}"], dtype=float)
            ax.plot(np.arange(1, val.size + 1), val, color=ANOMALY, marker="s", markersize=3, label="validation rows")
        if best_epoch:
            ax.axvline(
                best_epoch,
                color=THRESHOLD,
                linestyle="--",
                linewidth=1,
                label=f"best epoch ({best_epoch}): its weights are kept",
            )
        if train.size and np.all(train > 0) and train.max() / train.min() > 20:
            _log_scale(ax, "y")
        measure = loss_name if name == "loss" else name
        shown = f"loss ({loss_name})" if name == "loss" and loss_name else name
        ax.set_title(shown)
        ax.set_xlabel("epoch")
        ax.set_ylabel(f"{shown} ({UNITS[measure]})" if measure in UNITS else shown)
        ax.xaxis.get_major_locator().set_params(integer=True)
    for ax in axes[len(names) :]:
        ax.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=len(handles), frameon=False)
    return figure


# -- scores ---------------------------------------------------------------------------------------------
@styled
def score_distribution(scores, threshold: float, labels=None, bins: int = 60) -> Figure:
    """Histogram of anomaly scores, split by label when there are labels, with the threshold line."""
    scores = np.asarray(scores, dtype=float)
    flagged = float((scores > threshold).mean())
    figure = _figure(7.6, 3.8)
    ax = figure.subplots()
    log_x = _log_x(scores)
    low, high = float(scores.min()), float(max(scores.max(), threshold))
    edges = np.geomspace(low, high, bins + 1) if log_x else np.linspace(low, high, bins + 1)
    groups = [("all rows", scores, NORMAL)]
    if labels is not None:
        labels = np.asarray(labels)
        groups = [
            (f"normal ({int((labels == 0).sum()):,} rows)", scores[labels == 0], NORMAL),
            (f"anomaly ({int((labels == 1).sum()):,} rows)", scores[labels == 1], ANOMALY),
        ]
    counts = [np.histogram(part, edges)[0] for _, part, _ in groups if part.size]
    sizes = [part.size for _, part, _ in groups if part.size]
    imbalanced = len(sizes) > 1 and min(sizes) / sum(sizes) < 0.1
    peak = max(c.max() for c in counts)
    log_y = imbalanced or (peak > 50 * max(np.median(c[c > 0]) for c in counts))
    for name, part, colour in groups:
        if part.size:
            ax.hist(part, edges, color=colour, alpha=0.45, label=name)
            ax.hist(part, edges, color=colour, histtype="step", linewidth=1.2)
    ax.axvline(
        threshold,
        color=THRESHOLD,
        linestyle="--",
        linewidth=1.5,
        label=f"threshold {threshold:.4g}: {_percent(flagged)} of rows flagged",
    )
    if log_y:
        ax.set_ylim(bottom=0.5)  # a bin of one row stays visible
        _log_scale(ax, "y")
    if log_x:
        _log_scale(ax, "x")
    ax.set_xlabel(SCORE_LABEL + (", log scale" if log_x else ""))
    ax.set_ylabel("rows" + (" (log scale)" if log_y else ""))
    ax.set_title("Score distribution" + (" by label" if labels is not None else ""))
    figure.legend(loc="outside lower center", ncols=3, frameon=False)  # below: never over the bars
    return figure


@styled
def roc_pr_curves(labels, scores, threshold: float) -> Figure:
    """ROC and precision-recall curves with their areas and the current threshold's operating point."""
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=float)
    predicted = scores > threshold
    tpr_now = float(predicted[labels == 1].mean())
    fpr_now = float(predicted[labels == 0].mean())
    precision_now = float(labels[predicted].mean()) if predicted.any() else 1.0
    figure = _figure(10.0, 4.2, "Ranking quality")
    roc_ax, pr_ax = figure.subplots(1, 2)
    fpr, tpr, _ = roc_curve(labels, scores)
    roc_ax.plot(fpr, tpr, color=NORMAL, linewidth=2, label=f"ROC curve, AUC = {auc(fpr, tpr):.3f}")
    roc_ax.plot([0, 1], [0, 1], color="grey", linestyle=":", label="chance (AUC = 0.5)")
    roc_ax.plot(
        fpr_now,
        tpr_now,
        "o",
        color=ANOMALY,
        markersize=8,
        label=f"threshold {threshold:.4g}: TPR {tpr_now:.2f}, FPR {fpr_now:.3f}",
    )
    roc_ax.set(
        xlabel="false positive rate (share of normal rows flagged)",
        ylabel="true positive rate (recall)",
        title="ROC curve",
        xlim=(-0.01, 1.01),
        ylim=(-0.01, 1.02),
    )
    roc_ax.legend(loc="lower right")
    precision, recall, _ = precision_recall_curve(labels, scores)
    prevalence = float(labels.mean())
    pr_ax.step(
        recall,
        precision,
        where="post",
        color=NORMAL,
        linewidth=2,
        label=f"PR curve, AUC (average precision) = {average_precision_score(labels, scores):.3f}",
    )
    pr_ax.axhline(prevalence, color="grey", linestyle=":", label=f"chance (anomaly share {_percent(prevalence)})")
    pr_ax.plot(
        tpr_now,
        precision_now,
        "o",
        color=ANOMALY,
        markersize=8,
        label=f"threshold {threshold:.4g}: recall {tpr_now:.2f}, precision {precision_now:.2f}",
    )
    pr_ax.set(
        xlabel="recall (share of anomalies flagged)",
        ylabel="precision (share of flags that are anomalies)",
        title="Precision-recall curve",
        xlim=(-0.01, 1.01),
        ylim=(-0.01, 1.05),
    )
    pr_ax.legend(loc="best")
    return figure


@styled
def threshold_metrics(labels, scores, threshold: float) -> Figure:
    """Precision, recall and F1 as the threshold moves over the observed scores."""
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=float)
    precision, recall, cuts = precision_recall_curve(labels, scores)
    precision, recall = precision[:-1], recall[:-1]
    f1 = np.divide(
        2 * precision * recall, precision + recall, out=np.zeros_like(recall), where=(precision + recall) > 0
    )
    figure = _figure(7.6, 3.8)
    ax = figure.subplots()
    # Between two observed scores nothing changes: steps, not lines (a row is flagged when score > threshold,
    # so each value holds from the previous observed score up to its own).
    step = dict(linewidth=1.8, drawstyle="steps-pre")
    ax.plot(cuts, precision, color=NORMAL, label="precision", **step)
    ax.plot(cuts, recall, color=ANOMALY, linestyle="--", label="recall", **step)
    ax.plot(cuts, f1, color=OKABE_ITO["green"], linestyle="-.", label="F1", **step)
    best = int(np.argmax(f1))
    ax.plot(
        cuts[best],
        f1[best],
        "D",
        color=OKABE_ITO["green"],
        markersize=6,
        label=f"best F1 {f1[best]:.3f} at {cuts[best]:.4g}",
    )
    ax.axvline(threshold, color=THRESHOLD, linestyle=":", linewidth=1.5, label=f"current threshold {threshold:.4g}")
    if _log_x(scores):
        _log_scale(ax, "x")
    ax.set(
        xlabel="threshold on the " + SCORE_LABEL,
        ylabel="value (0 to 1)",
        ylim=(-0.02, 1.05),
        title="Precision, recall and F1 against the threshold",
    )
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5))
    return figure


@styled
def confusion_matrix(matrix, threshold: float) -> Figure:
    """The 2 x 2 confusion matrix ``[[tn, fp], [fn, tp]]`` with counts and shares of each true class."""
    matrix = np.asarray(matrix, dtype=int)
    totals = np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    shares = matrix / totals
    figure = _figure(5.4, 4.2)
    ax = figure.subplots()
    image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    names = ["normal", "anomaly"]
    for (row, column), count in np.ndenumerate(matrix):
        colour = "white" if shares[row, column] > 0.55 else "black"
        ax.text(
            column, row, f"{count:,}\n({shares[row, column]:.1%})", ha="center", va="center", color=colour, fontsize=12
        )
    ax.set_xticks([0, 1], names)
    ax.set_yticks([0, 1], names, rotation=90, va="center")
    ax.set_xlabel("predicted class (score above the threshold = anomaly)")
    ax.set_ylabel("true class")
    ax.grid(False)
    ax.set_title(f"Confusion matrix at threshold {threshold:.4g}")
    figure.colorbar(image, ax=ax, shrink=0.8, label="share of the row's true class (in brackets)")
    return figure


# -- explanations -------------------------------------------------------------------------------------
def _top_rows(scores: np.ndarray, threshold: float, top_k: int) -> tuple[np.ndarray, bool]:
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
    rows, any_flagged = _top_rows(scores, threshold, top_k)
    columns = min(3, max(len(rows), 1))
    n_grid = max(int(np.ceil(len(rows) / columns)), 1)
    what = "flagged rows" if any_flagged else "highest-scoring rows (none is flagged)"
    title = f"Features that drive the top {len(rows)} {what}"
    figure = _figure(3.6 * columns + 0.6, 2.3 * n_grid + 0.5, title)
    axes = np.atleast_1d(figure.subplots(n_grid, columns, squeeze=False).ravel())
    for ax, row in zip(axes, rows, strict=False):
        values = errors.iloc[int(row)].sort_values(ascending=False).head(top_features)[::-1]
        ax.barh([_short(str(name)) for name in values.index], values.to_numpy(), color=ANOMALY)
        name = _short(str(int(row) if names is None else names[int(row)]))
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
    figure = _figure(7.6, 0.32 * len(order) + 1.6)
    ax = figure.subplots()
    positions = np.arange(len(order))
    ax.barh(positions + 0.2, high[order].to_numpy(), height=0.4, color=ANOMALY, label=flagged_name)
    ax.barh(
        positions - 0.2, rest[order].to_numpy(), height=0.4, color=NORMAL, label=f"other rows ({int((~flagged).sum())})"
    )
    ax.set_yticks(positions, [_short(str(name)) for name in order])
    ax.grid(axis="y", visible=False)
    shown = np.r_[high[order].to_numpy(), rest[order].to_numpy()]
    shown = shown[shown > 0]
    log_x = shown.size > 1 and shown.max() / shown.min() > 30
    if log_x:  # flagged rows' errors dwarf the others': a log axis keeps both readable
        _log_scale(ax, "x")
        ax.set_xlim(shown.min() / 2, shown.max() * 1.5)
    ax.set_xlabel(f"mean {unit}" + (", log scale" if log_x else ""))
    ax.set_title(f"Features with the largest excess error on {group} (top {len(order)})")
    figure.legend(loc="outside lower center", ncols=2, frameon=False)
    return figure


def _short(name: str, width: int = 24) -> str:
    """A name from the data as a label: shortened, and "$" escaped so that matplotlib shows it as written
    instead of typesetting "$...$" as TeX (or failing on it: tick labels are parsed when drawn)."""
    return (name if len(name) <= width else name[: width - 1] + "…").replace("$", r"\$")


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
    figure = _figure(7.0, 5.0)
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
            norm=matplotlib.colors.LogNorm() if _log_x(scores) else None,
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
