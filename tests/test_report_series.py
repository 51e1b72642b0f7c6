"""Reports of series, per time point as score and evaluate give them; the explorer's numbers; the
names of rows on the page; robust latent axes; the size of the page for many rows."""

from __future__ import annotations

import json
import re

import matplotlib.dates
import numpy as np
import pandas as pd
import pytest
import torch

from aedetect import AutoencoderDetector
from aedetect.data.inputs import read_windows
from aedetect.data.windows import point_scores
from aedetect.evaluation import evaluate
from aedetect.report import explanation_figures, explorer, figure_specs
from aedetect.report import page as report
from aedetect.report.data import report_data

torch.set_num_threads(1)
WINDOW = 20


@pytest.fixture(scope="module")
def series_case(tmp_path_factory):
    """A sine series with timestamps, labelled per time point, and a conv1d model of its first part."""
    folder = tmp_path_factory.mktemp("series")
    stamps = pd.date_range("2024-01-01", periods=600, freq="5min")
    values = np.sin(np.arange(600) / 5.0) + 0.02 * np.random.default_rng(0).normal(size=600)
    labels = np.zeros(600, dtype=int)
    values[450:456] += 3.0
    labels[450:456] = 1
    frame = pd.DataFrame({"timestamp": stamps, "value": values, "label": labels})
    frame.to_csv(folder / "series.csv", index=False)
    frame.iloc[:370].to_csv(folder / "normal.csv", index=False)
    train = read_windows(str(folder / "series.csv"), WINDOW, 1, "timestamp", None, "label", 0, 1)
    normal = train.windows[:350]
    detector = AutoencoderDetector(architecture="conv1d", epochs=8, batch_size=32, random_state=0, device="cpu")
    detector.fit(normal)
    detector.metadata_ = {"timestamp_column": "timestamp", "window": WINDOW, "stride": 1, "label_column": "label"}
    detector.folder = folder
    return detector, train


def test_a_series_report_is_per_time_point_with_the_numbers_of_evaluate(series_case, monkeypatch):
    monkeypatch.setattr(report, "figure_png", lambda figure: b"")
    detector, series = series_case
    data = report_data(detector, series.windows, series.point_labels, "series.csv", series)
    points = point_scores(detector.decision_function(series.windows), len(series.table), WINDOW, 1)
    expected = evaluate(series.point_labels, points, detector.threshold_)
    assert data.evaluation.roc_auc == expected.roc_auc and data.evaluation.n_rows == 600
    assert data.unit == "time points"
    figures, _ = figure_specs.build_figures(data)
    page = report._render(data, figures, {name: report.figure_png(f) for name, f in figures.items()}, [])
    assert re.search(r'data-metric="roc_auc" data-value="([^"]+)"', page).group(1) == repr(expected.roc_auc)
    assert 'id="data-rows" data-value="600"' in page and "600 time points" in page
    # Every series figure is placed in time: window panels by the time of their first point, the
    # series figure against the timestamps.
    titles = [ax.get_title() for ax in figures["window-reconstructions"].axes]
    assert all(re.match(r"window from timestamp 2024-01-0\d \d\d:\d\d:\d\d \(", t) for t in titles), titles
    value_ax, score_ax = figures["series-scores"].axes[:2]
    assert score_ax.get_xlabel() == "timestamp"
    first, last = (matplotlib.dates.num2date(x).replace(tzinfo=None) for x in score_ax.get_xlim())
    assert first <= pd.Timestamp("2024-01-01") and last >= pd.Timestamp("2024-01-01") + pd.Timedelta("2995min")
    # The explorer's table names time points by their timestamps.
    state = json.loads(re.search(r'id="explorer-data">(.*?)</script>', page).group(1))
    assert state["table"]["name"] == "timestamp" and state["rows"] == 600
    assert state["table"]["rows"][0][0].startswith("2024-01-02 1")  # the spike at 5 min x 450 = 37.5 h


def test_the_explorer_embeds_counts_that_give_evaluate_exactly(series_case):
    detector, series = series_case
    rng = np.random.default_rng(1)
    scores = np.r_[rng.gamma(2.0, 1.0, 950), rng.gamma(9.0, 1.0, 50)]
    labels = np.r_[np.zeros(950), np.ones(50)].astype(int)
    calibration = rng.gamma(2.0, 1.0, 300)
    threshold = float(np.quantile(calibration, 0.99))
    state = explorer.explorer_data(scores, threshold, "false_alarm_rate:0.01", calibration, labels, log=True)
    assert state["grid"][state["model_index"]] == threshold
    assert json.loads(str(explorer.embedded_json(state))) == state
    for index in (state["model_index"], 0, 250, 700, len(state["grid"]) - 1):
        now = explorer.metrics_at(state, index)
        result = evaluate(labels, scores, now["threshold"])
        assert (now["precision"], now["recall"], now["f1"]) == (result.precision, result.recall, result.f1)
        assert now["false_alarm_rate"] == result.false_alarm_rate
        assert now["confusion_matrix"] == result.confusion_matrix
        assert now["held_out_rate"] == float((calibration > now["threshold"]).mean())
    assert explorer.metrics_at(state, len(state["grid"]) - 1)["flagged"] == 0


def test_top_anomaly_panels_name_the_position_or_id_and_the_label():
    errors = pd.DataFrame(np.eye(4), columns=list("abcd"))
    scores = np.array([1.0, 5.0, 2.0, 9.0])
    figure = explanation_figures.top_anomaly_features(errors, scores, 1.5, labels=np.array([0, 1, 0, 0]))
    assert [ax.get_title() for ax in figure.axes if ax.get_visible()] == [
        "position 3, labelled normal: score 9",
        "position 1, labelled anomaly: score 5",
        "position 2, labelled normal: score 2",
    ]
    named = explanation_figures.top_anomaly_features(errors, scores, 4.0, row_name="id", names=["w", "x", "y", "z"])
    assert [ax.get_title() for ax in named.axes if ax.get_visible()] == ["id z: score 9", "id x: score 5"]


def test_latent_axes_are_not_squashed_by_a_few_extreme_codes():
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(500, 2))
    codes[:3] = [[400.0, 0.0], [0.0, -300.0], [250.0, 250.0]]
    figure = explanation_figures.latent_space(codes, rng.random(500), 0.99)
    ax = figure.axes[0]
    assert ax.get_xlim()[1] < 10 and ax.get_ylim()[0] > -10
    assert "3 points beyond the 1st-99th percentile drawn at the edge" in ax.get_title()
    # Without extreme codes nothing is clipped and the title says nothing.
    plain = explanation_figures.latent_space(rng.normal(size=(500, 2)), rng.random(500), 0.99).axes[0]
    assert "beyond" not in plain.get_title()


def test_warnings_and_the_meaning_of_the_threshold_are_on_the_page(series_case, monkeypatch):
    monkeypatch.setattr(figure_specs, "FIGURES", [])
    detector, series = series_case
    drifted = series.windows + 2.0  # the level moved: most normal points are flagged
    page = report.render_report(detector, drifted, series.point_labels, "drifted.csv", series)
    assert 'data-check="flag-rate"' in page and "level drift" in page
    assert 'id="threshold-held-out"' in page and "held-out normal rows above)" in page
    held_out = (detector.calibration_scores_ > detector.threshold_).mean()
    assert re.search(r'id="threshold-held-out" data-value="([^"]+)"', page).group(1) == repr(float(held_out))


def test_the_command_line_reports_a_series_with_the_numbers_of_evaluate(series_case, monkeypatch):
    from typer.testing import CliRunner

    from aedetect.cli import app

    monkeypatch.setattr(report, "figure_png", lambda figure: b"")
    folder = series_case[0].folder

    def run(*args):
        result = CliRunner().invoke(app, [str(a) for a in args])
        assert result.exit_code == 0, result.output
        return result.output

    trained = run(
        "train", folder / "normal.csv", "--timestamp-column", "timestamp", "--window", WINDOW,
        "--label-column", "label", "--epochs", "8", "-o", folder / "m", "--quiet",
    )  # fmt: skip
    assert re.search(r"threshold false_alarm_rate:0.01 = [\d.e+-]+: flags [\d.]+% of held-out normal rows", trained)
    evaluated = run("evaluate", folder / "m", folder / "series.csv", "--json", folder / "metrics.json")
    assert "of held-out normal rows" in evaluated and "recall" in evaluated.split("held-out normal rows")[-1]
    metrics = json.loads((folder / "metrics.json").read_text())
    written = run("report", folder / "m", folder / "series.csv", "-o", folder / "report.html")
    assert "report on 600 time points written to" in written
    page = (folder / "report.html").read_text()
    assert re.search(r'data-metric="roc_auc" data-value="([^"]+)"', page).group(1) == repr(metrics["roc_auc"])
    assert re.search(r'data-metric="recall" data-value="([^"]+)"', page).group(1) == repr(metrics["recall"])
