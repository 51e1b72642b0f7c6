"""Warnings when a model is poor or its threshold misfires, and what a threshold means in rows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from aedetect import AutoencoderDetector
from aedetect.diagnostics import diagnose, flag_rate, missed_anomalies, summary_lines, training_budget
from aedetect.evaluation import ThresholdMeaning, evaluate, threshold_meaning
from aedetect.thresholds import parse_threshold

torch.set_num_threads(1)
SMALL = dict(hidden_dims=[8], latent_dim=2, batch_size=32, random_state=0, device="cpu")


def _rows(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(n, 2))
    values = np.column_stack([base, base @ np.array([[1.0, 0.5], [-0.5, 1.0]]) + 0.1 * rng.normal(size=(n, 2))])
    return pd.DataFrame(values + shift, columns=["a", "b", "c", "d"])


@pytest.fixture(scope="module")
def trained():
    """Enough epochs that early stopping ends training."""
    return AutoencoderDetector(**SMALL, epochs=300, patience=3, learning_rate=1e-2).fit(_rows(400, 0))


def test_a_well_trained_model_on_data_like_its_training_data_gets_no_warning(trained):
    assert trained.history_.best_epoch < trained.history_.stopped_epoch  # early stopping ended it
    frame = pd.concat([_rows(300, 1), _rows(15, 2, shift=6.0)], ignore_index=True)
    labels = np.r_[np.zeros(300), np.ones(15)]
    assert diagnose(trained, trained.decision_function(frame), labels) == []
    assert diagnose(trained, trained.decision_function(_rows(300, 1))) == []


def test_training_cut_short_while_improving_says_raise_epochs():
    detector = AutoencoderDetector(**SMALL, epochs=3).fit(_rows(400, 0))
    found = diagnose(detector)
    assert [d.check for d in found] == ["training-budget"]
    text = str(found[0])
    assert "training ended on its budget of 3 epochs while still improving" in text
    assert "raise --epochs" in text and "e.g. to 6" in text
    # Early stopping that ended training, or a loss that no longer falls, is no problem.
    assert training_budget({"val_loss": [3.0, 2.0, 2.5]}, 2, 3) is None
    assert training_budget({"val_loss": [3.0, 2.0, 1.999]}, 3, 3) is None


def test_a_level_drift_is_named_with_its_cause(trained):
    drifted = _rows(300, 3, shift=2.5)  # normal rows whose level moved
    scores = trained.decision_function(drifted)
    found = diagnose(trained, scores, np.zeros(len(drifted)))
    assert [d.check for d in found] == ["flag-rate"]
    share = (scores > trained.threshold_).mean()
    assert share > 0.5 and f"flags {share:.1%} of the normal rows" in found[0].problem
    assert "level drift" in found[0].cause and "retrain on normal data" in found[0].fix
    # Unlabelled rows: the same shift is flagged, with the caveat that they may be anomalies.
    (unlabelled,) = diagnose(trained, scores)
    assert "unless most of them really are anomalies" in unlabelled.cause
    # A share just above the held-out rate is not a problem.
    calibration = np.linspace(0, 1, 1000)
    assert flag_rate(np.linspace(0.0, 1.02, 500), calibration, 0.99, labelled=True) is None


def test_many_anomalies_caught_by_few_flags_suggests_a_rule_that_fits(trained):
    anomalies = _rows(70, 5)
    anomalies["c"] += 0.5  # a subtle break of the columns' relation: ranked well, rarely above the threshold
    frame = pd.concat([_rows(130, 4), anomalies], ignore_index=True)  # 35 % anomalies
    labels = np.r_[np.zeros(130), np.ones(70)].astype(int)
    scores = trained.decision_function(frame)
    result = evaluate(labels, scores, trained.threshold_)
    assert result.recall < 0.2 and result.roc_auc > 0.65
    found = missed_anomalies(labels, scores, trained.threshold_, trained.threshold_rule_.to_spec())
    assert found.check == "missed-anomalies"
    assert f"catches {result.recall:.0%} of the anomalies (70 rows, 35% of the data)" in found.problem
    assert "--threshold best_f1" in found.fix and "contamination:0.35" in found.fix
    best = parse_threshold("best_f1").fit(scores, labels).threshold_
    assert f"recall {evaluate(labels, scores, best).recall:.2f}" in found.fix
    # Scores that do not separate the classes: the fix is the model, not the threshold.
    rng = np.random.default_rng(0)
    noise = rng.random(200)
    poor = missed_anomalies(labels, noise, 0.99)
    assert poor.check == "poor-ranking" and "ROC-AUC" in poor.cause


def test_threshold_meaning_counts_held_out_rows_and_agrees_with_evaluate(trained):
    frame = pd.concat([_rows(100, 6), _rows(10, 7, shift=5.0)], ignore_index=True)
    labels = np.r_[np.zeros(100), np.ones(10)].astype(int)
    scores = trained.decision_function(frame)
    meaning = threshold_meaning(trained.threshold_, trained.calibration_scores_, "x", labels, scores)
    result = evaluate(labels, scores, trained.threshold_)
    assert (meaning.precision, meaning.recall) == (result.precision, result.recall)
    above = int((trained.calibration_scores_ > trained.threshold_).sum())
    assert (meaning.normal_flagged, meaning.normal_rows) == (above, trained.calibration_scores_.size)
    assert f"({above:,} of {trained.calibration_scores_.size:,})" in meaning.describe()
    assert ThresholdMeaning.of(trained, labels, scores) == meaning.__class__(
        **{**meaning.__dict__, "rule": trained.threshold_rule_.to_spec()}
    )
    assert (
        ThresholdMeaning.of(trained)
        .describe()
        .startswith(f"threshold {trained.threshold_rule_.to_spec()} = {trained.threshold_:.6g}: flags ")
    )


def test_a_higher_percentile_can_give_a_lower_threshold_and_the_meaning_shows_it():
    held_out = np.arange(100.0)
    rate = parse_threshold("false_alarm_rate:0.01").fit(held_out)
    percentile = parse_threshold("percentile:99.5").fit(held_out)
    assert percentile.threshold_ < rate.threshold_
    assert (
        "flags 0% of held-out normal rows (0 of 100)"
        in threshold_meaning(rate.threshold_, held_out, rate.to_spec()).describe()
    )
    assert (
        "flags 1% of held-out normal rows (1 of 100)"
        in threshold_meaning(percentile.threshold_, held_out, percentile.to_spec()).describe()
    )


def test_summary_lines_give_the_meaning_then_each_warning():
    detector = AutoencoderDetector(**SMALL, epochs=3).fit(_rows(400, 0))
    drifted = _rows(100, 3, shift=2.5)
    lines = summary_lines(detector, detector.decision_function(drifted), np.zeros(100))
    assert lines[0] == ThresholdMeaning.of(detector, np.zeros(100), detector.decision_function(drifted)).describe()
    assert [line.split(":")[0] for line in lines[1:]] == ["warning", "warning"]
    assert "raise --epochs" in lines[1] and "level drift" in lines[2]
