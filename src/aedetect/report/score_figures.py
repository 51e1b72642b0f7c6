"""Figures of how the model trained and how its scores separate the classes: training history, score
distribution, ROC and precision-recall curves, metrics against the threshold, confusion matrix.

One function per figure, plain data in, a matplotlib Figure out: they know nothing about detectors or
files, so they are easy to test and to reuse in a notebook. :mod:`aedetect.report.figure_specs` decides
which data each one gets; :mod:`aedetect.report.style` holds the house style they share.

Examples
--------
>>> import numpy as np
>>> figure = score_distribution(np.r_[np.linspace(0, 1, 90), np.linspace(2, 3, 10)], threshold=1.5)
>>> figure.axes[0].get_xlabel()
'anomaly score (higher = more anomalous)'
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure
from sklearn.metrics import auc, average_precision_score, precision_recall_curve, roc_curve

from aedetect.report.style import (
    ANOMALY,
    NORMAL,
    OKABE_ITO,
    SCORE_LABEL,
    THRESHOLD,
    log_scale,
    new_figure,
    percent,
    spans_decades,
    styled,
)

#: Units of each training measure on scaled inputs (the preprocessing's scaler sets the unit).
UNITS = {
    "mse": "scaled units²",
    "huber": "scaled units² near 0",
    "mae": "scaled units",
    "rmse": "scaled units",
    "bce": "nats per feature",
}


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
    figure = new_figure(width, 3.0 * n_rows + 0.7, "Training history")
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
            log_scale(ax, "y")
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
    figure = new_figure(7.6, 3.8)
    ax = figure.subplots()
    log_x = spans_decades(scores)
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
        label=f"threshold {threshold:.4g}: {percent(flagged)} of rows flagged",
    )
    if log_y:
        ax.set_ylim(bottom=0.5)  # a bin of one row stays visible
        log_scale(ax, "y")
    if log_x:
        log_scale(ax, "x")
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
    figure = new_figure(10.0, 4.2, "Ranking quality")
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
    pr_ax.axhline(prevalence, color="grey", linestyle=":", label=f"chance (anomaly share {percent(prevalence)})")
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
    figure = new_figure(7.6, 3.8)
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
    if spans_decades(scores):
        log_scale(ax, "x")
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
    figure = new_figure(5.4, 4.2)
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
