"""Drift checks: known shifts are found, data like the training data is not (at the stated rate)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import FAST, normal_rows, outlier_rows

from aedetect import AutoencoderDetector
from aedetect.batch.streams import score_stream
from aedetect.monitor.checks import binned_shift, flag_rate, holm, score_shift, verdict
from aedetect.monitor.drift import drift_of
from aedetect.monitor.window import DriftWindow
from aedetect.scoring.reference import bin_counts, bin_edges
from aedetect.thresholds import FalseAlarmRateThreshold

TRIALS = 400
ALPHA = 0.05
#: A rejection share above ALPHA by more than three standard errors of TRIALS trials is a defect.
CEILING = ALPHA + 3 * np.sqrt(ALPHA * (1 - ALPHA) / TRIALS)


# -- the statistics under no drift: false alarms at about the stated rate --------------------------------
def test_flag_rate_test_keeps_its_false_alarm_rate_over_calibration_draws():
    rng = np.random.default_rng(0)
    rejected = []
    for _ in range(TRIALS):
        calibration = rng.gamma(2.0, size=500)
        threshold = FalseAlarmRateThreshold(0.02).fit(calibration).threshold_
        recent = rng.gamma(2.0, size=2000)  # a window four times the calibration set
        rejected.append(flag_rate(int((recent > threshold).sum()), recent.size, calibration, threshold).p_value < ALPHA)
    assert 0.01 <= np.mean(rejected) <= CEILING


def test_flag_rate_test_sees_a_new_anomaly_rate():
    rng = np.random.default_rng(1)
    calibration = rng.gamma(2.0, size=1000)
    threshold = FalseAlarmRateThreshold(0.01).fit(calibration).threshold_
    recent = np.r_[rng.gamma(2.0, size=950), rng.gamma(2.0, size=50) + 20]  # 5 % anomalies
    result = flag_rate(int((recent > threshold).sum()), recent.size, calibration, threshold)
    assert result.p_value < 1e-6 and "normal rows are flagged at" in result.detail


def test_score_shift_keeps_its_rate_and_sees_a_shift():
    rng = np.random.default_rng(2)
    calibration = rng.gamma(2.0, size=800)
    p = [score_shift(rng.gamma(2.0, size=300), rng.gamma(2.0, size=800)).p_value for _ in range(TRIALS)]
    assert 0.01 <= np.mean(np.asarray(p) < ALPHA) <= CEILING
    assert score_shift(rng.gamma(2.0, size=300) * 1.3, calibration).p_value < 1e-4


def binned(values, reference):
    edges = bin_edges(reference)
    counts = bin_counts(reference, edges)
    shares = counts / counts.sum(axis=1, keepdims=True)
    names = [f"f{j}" for j in range(values.shape[1])]
    return binned_shift("inputs", "inputs", values, names, edges, shares, len(reference))


def test_binned_shift_keeps_its_rate_over_features_and_names_the_moved_ones():
    rng = np.random.default_rng(3)
    p = [binned(rng.normal(size=(400, 6)), rng.normal(size=(5000, 6))).p_value for _ in range(TRIALS)]
    assert np.mean(np.asarray(p) < ALPHA) <= CEILING  # Holm over 6 features: at most ALPHA
    reference = rng.normal(size=(5000, 6))
    shifted = rng.normal(size=(400, 6))
    shifted[:, [1, 4]] += 0.6  # a mean shift in two features
    result = binned(shifted, reference)
    assert result.p_value < 1e-6 and {f.feature for f in result.features[:2]} == {"f1", "f4"}
    assert all(f.p_value > 0.01 for f in result.features[2:])
    wider = rng.normal(size=(400, 6))
    wider[:, 2] *= 1.6  # a variance change, same mean
    assert binned(wider, reference).features[0].feature == "f2"


def test_too_few_rows_for_the_binned_test_say_so():
    rng = np.random.default_rng(4)
    assert binned(rng.normal(size=(20, 2)), rng.normal(size=(500, 2))).p_value is None


def test_holm_and_the_verdict_bound_the_family_wise_rate():
    np.testing.assert_allclose(holm([0.01, 0.04, 0.03]), [0.03, 0.06, 0.06])
    rng = np.random.default_rng(5)
    alarms = 0
    for _ in range(TRIALS):  # four checks on data like the reference: any alarm at most ALPHA of the time
        calibration = rng.gamma(2.0, size=1000)
        threshold = FalseAlarmRateThreshold(0.01).fit(calibration).threshold_
        recent = rng.gamma(2.0, size=500)
        checks = [
            flag_rate(int((recent > threshold).sum()), recent.size, calibration, threshold),
            score_shift(recent, calibration),
            binned(rng.normal(size=(500, 4)), rng.normal(size=(4000, 4))),
            binned(rng.normal(size=(500, 3)), rng.normal(size=(4000, 3))),
        ]
        alarms += verdict(checks, ALPHA)
    assert alarms / TRIALS <= CEILING


# -- a fitted model, streams with known shifts ---------------------------------------------------------
@pytest.fixture(scope="module")
def training() -> pd.DataFrame:
    return normal_rows(2000, seed=0)  # 200 held-out rows calibrate the threshold


@pytest.fixture(scope="module")
def detector(training):
    return AutoencoderDetector(**FAST).fit(training)


def test_the_model_keeps_its_drift_reference_and_old_models_load_without_it(detector, training, tmp_path):
    from aedetect import load

    reference = detector.drift_reference_
    assert reference.input_edges.shape == (4, 9) and reference.error_shares.shape == (4, 10)
    np.testing.assert_allclose(reference.input_shares.sum(axis=1), 1.0)
    # The training rows' deciles (the rows the preprocessing was fitted on, not the held-out ones).
    assert np.all(np.abs(reference.input_edges[:, 4]) < 0.15)
    detector.save(tmp_path / "m")
    loaded = load(tmp_path / "m")
    for name, value in reference.arrays().items():
        np.testing.assert_array_equal(loaded.drift_reference_.arrays()[name], value)
    # A golden folder saved before the reference existed still loads, without it.
    assert load(Path(__file__).parent / "golden" / "table-latent-knn" / "model").drift_reference_ is None


def normal_like(seed: int, n: int = 600) -> pd.DataFrame:
    """New rows from the training distribution."""
    return normal_rows(n, seed=seed)


def test_a_stream_like_the_training_data_is_not_flagged(detector):
    report, _, _ = drift_of(detector, normal_like(10))
    assert not report.drifted, report.lines()
    assert [c.name for c in report.checks] == ["flag_rate", "score_shift", "feature_errors", "inputs"]


def test_a_mean_shift_in_two_features_is_found_and_named(detector, training):
    shifted = normal_like(11)
    for column in ("b", "d"):
        shifted[column] += 1.0 * training[column].std()
    report, _, _ = drift_of(detector, shifted)
    inputs = next(c for c in report.checks if c.name == "inputs")
    assert report.drifted and inputs.drifted
    assert {f.feature for f in inputs.features[:2]} == {"b", "d"}


def test_a_variance_change_is_found(detector, training):
    wider = normal_like(12)
    wider["a"] = training["a"].mean() + (wider["a"] - training["a"].mean()) * 2.0
    report, _, _ = drift_of(detector, wider)
    inputs = next(c for c in report.checks if c.name == "inputs")
    assert report.drifted and inputs.features[0].feature == "a"


def test_a_new_anomaly_rate_is_found(detector):
    mixed = pd.concat([normal_like(13, 540), outlier_rows(60, seed=2)], ignore_index=True)  # 10 % anomalies
    report, _, _ = drift_of(detector, mixed)
    rate = next(c for c in report.checks if c.name == "flag_rate")
    assert report.drifted and rate.drifted and rate.statistic > 0.03


def test_a_model_without_a_drift_reference_says_the_input_check_is_unavailable(detector):
    import copy

    old = copy.deepcopy(detector)
    del old.drift_reference_
    report, _, _ = drift_of(old, normal_like(14))
    inputs = next(c for c in report.checks if c.name == "inputs")
    errors = next(c for c in report.checks if c.name == "feature_errors")
    assert not inputs.available and "without a drift reference" in inputs.detail
    assert not errors.available and errors.features  # still ranked by error over the normal level


def test_stream_scoring_reports_a_rolling_window(detector, training):
    rows = pd.concat([normal_like(15, 400), normal_like(16, 400) + [3 * training["a"].std(), 0, 0, 0]])
    lines = "".join(json.dumps(r) + "\n" for r in rows.to_dict("records"))
    reports = []
    from aedetect.batch.core import RowScoringCore

    window = DriftWindow(
        RowScoringCore(detector), lambda seen, report: reports.append((seen, report)), every=200, size=200
    )
    out = io.StringIO()
    score_stream(detector, io.StringIO(lines), out, batch_size=50, observer=window.observe)
    assert [seen for seen, _ in reports] == [200, 400, 600, 800]
    assert [report.drifted for _, report in reports] == [False, False, True, True]
    assert all(report.rows == 200 for _, report in reports)
    assert len(out.getvalue().splitlines()) == 800


def test_stream_monitor_writes_json_lines_and_the_page_has_every_check(detector, training, tmp_path):
    from aedetect.monitor.page import write_page
    from aedetect.monitor.stream import StreamMonitor

    rows = pd.concat([normal_like(17, 300), normal_like(18, 300) + [0, 0, 0, 3 * training["d"].std()]])
    lines = "".join(json.dumps(r) + "\n" for r in rows.to_dict("records"))
    said: list[str] = []
    monitor = StreamMonitor(detector, every=300, say=said.append, json_path=tmp_path / "drift.jsonl")
    score_stream(detector, io.StringIO(lines), io.StringIO(), batch_size=100, observer=monitor.observe)
    monitor.close()
    reports = [json.loads(line) for line in (tmp_path / "drift.jsonl").read_text().splitlines()]
    assert [r["records"] for r in reports] == [300, 600] and said == []
    assert [r["drifted"] for r in reports] == [False, True]
    inputs = next(c for c in reports[1]["checks"] if c["check"] == "inputs")
    assert inputs["drifted"] and inputs["features"][0]["feature"] == "d"

    to_stderr = StreamMonitor(detector, every=300, say=said.append)
    score_stream(detector, io.StringIO(lines), io.StringIO(), batch_size=100, observer=to_stderr.observe)
    assert said[0] == "drift after 300 records (last 300):" and any("DRIFT" in line for line in said)

    report, observed, core = drift_of(detector, rows.iloc[300:])
    page = write_page(report, observed, detector, core.threshold, tmp_path / "drift.html", "new.csv", "model")
    text = page.read_text()
    assert text.count("<img") == 4 and "drift found" in text
    for check in report.checks:
        assert check.title in text
