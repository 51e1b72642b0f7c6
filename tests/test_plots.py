"""Figures: each one a function of plain data that returns a labelled, readable matplotlib Figure."""

from __future__ import annotations

import io
import itertools

import matplotlib
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text
from sklearn.metrics import average_precision_score, roc_auc_score

from aedetect.report import explanation_figures, score_figures, style

RNG = np.random.default_rng(0)
LABELS = np.r_[np.zeros(190), np.ones(10)].astype(np.int64)
SCORES = np.r_[RNG.gamma(2.0, 0.5, 190), RNG.gamma(2.0, 0.5, 10) + 6.0]
THRESHOLD = 2.5
ERRORS = pd.DataFrame(RNG.gamma(1.0, size=(200, 6)), columns=[f"feature_{i}" for i in range(6)])
ERRORS.loc[LABELS == 1, "feature_2"] += 30
HISTORY = {
    "loss": [1.0, 0.5, 0.3, 0.25],
    "val_loss": [0.9, 0.6, 0.35, 0.36],
    "mae": [0.8, 0.5, 0.4, 0.38],
    "val_mae": [0.7, 0.55, 0.45, 0.46],
}

FIGURES = {
    "training_history": lambda: score_figures.training_history(HISTORY, best_epoch=3, loss_name="mse"),
    "score_distribution": lambda: score_figures.score_distribution(SCORES, THRESHOLD, LABELS),
    "score_distribution_unlabelled": lambda: score_figures.score_distribution(SCORES, THRESHOLD),
    "roc_pr_curves": lambda: score_figures.roc_pr_curves(LABELS, SCORES, THRESHOLD),
    "threshold_metrics": lambda: score_figures.threshold_metrics(LABELS, SCORES, THRESHOLD),
    "confusion_matrix": lambda: score_figures.confusion_matrix([[180, 10], [2, 8]], THRESHOLD),
    "top_anomaly_features": lambda: explanation_figures.top_anomaly_features(ERRORS, SCORES, THRESHOLD),
    "feature_error_summary": lambda: explanation_figures.feature_error_summary(ERRORS, SCORES, THRESHOLD),
    "latent_space": lambda: explanation_figures.latent_space(RNG.normal(size=(200, 3)), SCORES, THRESHOLD, LABELS),
    "latent_space_unlabelled": lambda: explanation_figures.latent_space(RNG.normal(size=(200, 3)), SCORES, THRESHOLD),
}


def _texts(figure: Figure) -> list[Text]:
    """Every piece of text that the figure draws (tick labels only where their tick is in view)."""
    figure.canvas.draw()
    tick_labels, drawn = set(), set()
    for ax in figure.axes:
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                tick_labels.update((tick.label1, tick.label2))
                if low - 1e-9 * abs(high - low) <= tick.get_loc() <= high + 1e-9 * abs(high - low):
                    drawn.update((tick.label1, tick.label2))
    visible = []
    for text in figure.findobj(Text):
        hidden = not text.get_visible() or (text.axes is not None and not text.axes.get_visible())
        if hidden or not text.get_text().strip():
            continue
        if text in tick_labels and text not in drawn:
            continue
        visible.append(text)
    return visible


@pytest.mark.parametrize("name", FIGURES)
def test_every_figure_is_titled_labelled_and_renders(name):
    figure = FIGURES[name]()
    assert isinstance(figure, Figure)
    axes = [ax for ax in figure.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]
    assert axes
    title = figure._suptitle.get_text() if figure._suptitle else ""
    for ax in axes:
        assert ax.get_title() or title, f"{name}: an axes without a title"
        assert ax.get_ylabel() or ax.get_yticklabels(), f"{name}: no y label"
    assert any(ax.get_xlabel() for ax in axes) or figure._supxlabel is not None
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=50)
    assert buffer.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("name", FIGURES)
def test_no_two_labels_overlap(name):
    figure = FIGURES[name]()
    renderer = figure.canvas.get_renderer()
    texts = _texts(figure)
    boxes = [(t, t.get_window_extent(renderer)) for t in texts]
    for (a, box_a), (b, box_b) in itertools.combinations(boxes, 2):
        if box_a.width == 0 or box_b.width == 0:
            continue
        overlap = box_a.intersection(box_a, box_b)
        if overlap is not None and overlap.width > 1 and overlap.height > 1:
            pytest.fail(f"{name}: {a.get_text()!r} overlaps {b.get_text()!r}")


def test_figures_leave_pyplot_and_global_settings_alone():
    before = dict(matplotlib.rcParams)
    import matplotlib.pyplot as plt

    open_before = plt.get_fignums()
    for build in FIGURES.values():
        build()
    assert plt.get_fignums() == open_before
    assert dict(matplotlib.rcParams) == before


def test_curves_show_the_same_areas_as_scikit_learn():
    figure = score_figures.roc_pr_curves(LABELS, SCORES, THRESHOLD)
    legends = " ".join(t.get_text() for ax in figure.axes for t in ax.get_legend().get_texts())
    assert f"AUC = {roc_auc_score(LABELS, SCORES):.3f}" in legends
    assert f"= {average_precision_score(LABELS, SCORES):.3f}" in legends
    assert f"threshold {THRESHOLD:.4g}" in legends


def test_score_distribution_states_the_share_flagged_and_uses_log_counts_when_imbalanced():
    figure = score_figures.score_distribution(SCORES, THRESHOLD, LABELS)
    ax = figure.axes[0]
    legend = [t.get_text() for t in figure.legends[0].get_texts()]
    share = (SCORES > THRESHOLD).mean()
    assert any(f"{share:.2%} of rows flagged" in text for text in legend)
    assert any(text.startswith("normal (190") for text in legend) and any("anomaly (10" in t for t in legend)
    assert ax.get_yscale() == "log"  # 5 % anomalies
    balanced = score_figures.score_distribution(SCORES, THRESHOLD, np.arange(200) % 2)
    assert balanced.axes[0].get_yscale() == "linear"


def test_confusion_matrix_prints_counts_and_shares():
    figure = score_figures.confusion_matrix([[180, 10], [2, 8]], THRESHOLD)
    ax = figure.axes[0]
    assert [t.get_text() for t in ax.texts] == ["180\n(94.7%)", "10\n(5.3%)", "2\n(20.0%)", "8\n(80.0%)"]
    figure.canvas.draw()
    cell_width = ax.get_window_extent().width / 2
    assert all(t.get_window_extent().width < 0.9 * cell_width for t in ax.texts)  # each count fits its cell
    wide = score_figures.confusion_matrix([[1_234_567, 0], [0, 1_234_567]], THRESHOLD)
    wide.canvas.draw()
    assert all(
        t.get_window_extent().width < 0.9 * wide.axes[0].get_window_extent().width / 2 for t in wide.axes[0].texts
    )


def test_feature_figures_name_the_feature_that_drives_the_anomalies():
    top = explanation_figures.top_anomaly_features(ERRORS, SCORES, THRESHOLD, top_k=4)
    panels = [ax for ax in top.axes if ax.get_visible()]
    assert len(panels) == 4
    assert all(ax.get_yticklabels()[-1].get_text() == "feature_2" for ax in panels)  # largest bar on top
    summary = explanation_figures.feature_error_summary(ERRORS, SCORES, THRESHOLD)
    assert summary.axes[0].get_yticklabels()[-1].get_text() == "feature_2"


def test_feature_figures_explain_the_highest_scores_when_nothing_is_flagged():
    top = explanation_figures.top_anomaly_features(ERRORS, SCORES, threshold=1e9)
    assert "none is flagged" in top._suptitle.get_text()
    summary = explanation_figures.feature_error_summary(ERRORS, SCORES, threshold=1e9)
    assert "top 1 % of scores" in summary.axes[0].get_title()


def test_latent_space_samples_large_data_but_keeps_every_anomaly():
    n = explanation_figures.MAX_POINTS + 3000
    labels = np.zeros(n, dtype=np.int64)
    labels[:25] = 1
    figure = explanation_figures.latent_space(RNG.normal(size=(n, 4)), RNG.random(n), 0.99, labels)
    normal, anomaly = figure.axes[0].collections
    assert len(anomaly.get_offsets()) == 25 and len(normal.get_offsets()) == explanation_figures.MAX_POINTS
    assert "rows shown" in figure.axes[0].get_title()
    assert "% of latent variance" in figure.axes[0].get_xlabel()


@pytest.mark.parametrize(("normal", "anomalous", "shown"), [(30, 30, (30, 30)), (30, 80, (30, 50)), (80, 10, (50, 10))])
def test_latent_space_samples_each_group_to_at_most_max_points(normal, anomalous, shown):
    # More rows than max_points in all, fewer normal ones than max_points: used to fail with
    # "Cannot take a larger sample than population".
    labels = np.r_[np.zeros(normal), np.ones(anomalous)].astype(np.int64)
    n = labels.size
    figure = explanation_figures.latent_space(RNG.normal(size=(n, 3)), RNG.random(n), 0.5, labels, max_points=50)
    drawn = [len(points.get_offsets()) for points in figure.axes[0].collections]
    assert tuple(drawn) == shown
    title = figure.axes[0].get_title()
    assert (f"({sum(shown):,} of {n:,} rows shown)" in title) == (sum(shown) < n)
    legend = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert legend[1] == ("anomaly (" + (f"{shown[1]} of {anomalous}" if shown[1] < anomalous else f"{anomalous}") + ")")


def test_latent_space_needs_two_rows():
    with pytest.raises(ValueError, match="needs at least 2 rows; got 1"):
        explanation_figures.latent_space(np.zeros((1, 2)), np.zeros(1), 0.5)


def test_names_with_dollar_signs_are_drawn_as_written():
    errors = pd.DataFrame(RNG.random((6, 3)), columns=[r"$\frac$", "price $ in $ usd", "$x$"])
    for figure in (
        explanation_figures.feature_error_summary(errors, np.arange(6.0), 2.5),
        explanation_figures.top_anomaly_features(errors, np.arange(6.0), 2.5),
    ):
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg")  # mathtext failed on "\frac" when the ticks were drawn
        assert "price $ in $ usd" in buffer.getvalue() and "$x$" in buffer.getvalue()


def test_latent_space_of_a_one_dimensional_code_uses_the_score_as_second_axis():
    figure = explanation_figures.latent_space(RNG.normal(size=(200, 1)), SCORES, THRESHOLD)
    assert figure.axes[0].get_ylabel() == style.SCORE_LABEL


def test_training_history_marks_the_best_epoch_and_shows_every_metric():
    figure = score_figures.training_history(HISTORY, best_epoch=3, loss_name="mse")
    titles = [ax.get_title() for ax in figure.axes if ax.get_visible()]
    assert titles == ["loss (mse)", "mae"]
    legend = [t.get_text() for t in figure.legends[0].get_texts()]
    assert legend == ["training rows", "validation rows", "best epoch (3): its weights are kept"]
    assert "scaled units²" in figure.axes[0].get_ylabel()
