"""Threshold rules on known score arrays; the false-alarm guarantee; parsing."""

from __future__ import annotations

import re

import numpy as np
import pytest

from aedetect.thresholds import (
    RULES,
    BestF1Threshold,
    ContaminationThreshold,
    FalseAlarmRateThreshold,
    FixedThreshold,
    IqrThreshold,
    MeanStdThreshold,
    PercentileThreshold,
    parse_threshold,
    rule_from_dict,
)

SCORES = np.arange(1.0, 101.0)  # 1, 2, ..., 100


def test_percentile():
    rule = PercentileThreshold(90).fit(SCORES)
    assert rule.threshold_ == pytest.approx(np.percentile(SCORES, 90)) == pytest.approx(90.1)
    assert rule.predict(SCORES).sum() == 10


def test_contamination_flags_the_expected_share_of_the_rows_it_is_fitted_on():
    rule = ContaminationThreshold(0.05).fit(SCORES)
    assert rule.predict(SCORES).sum() == 5
    assert rule.predict(SCORES)[-5:].all()


def test_mean_std():
    scores = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    rule = MeanStdThreshold(2).fit(scores)
    assert rule.threshold_ == pytest.approx(3.0 + 2 * np.sqrt(2.0))
    assert MeanStdThreshold(-1).fit(scores).threshold_ == pytest.approx(3.0 - np.sqrt(2.0))


def test_iqr_is_tukeys_fence():
    rule = IqrThreshold(3).fit(SCORES)  # quartiles 25.75 and 75.25
    assert rule.threshold_ == pytest.approx(75.25 + 3 * 49.5)
    assert IqrThreshold().fit(SCORES).threshold_ == pytest.approx(75.25 + 1.5 * 49.5)


def test_iqr_is_not_moved_by_a_few_extreme_normal_scores():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=300)
    odd = np.concatenate([scores, [40.0, 55.0, 80.0]])
    assert IqrThreshold(3).fit(odd).threshold_ == pytest.approx(IqrThreshold(3).fit(scores).threshold_, rel=0.05)
    assert MeanStdThreshold(3).fit(odd).threshold_ > 2 * MeanStdThreshold(3).fit(scores).threshold_
    with pytest.raises(ValueError, match="iqr:3"):
        IqrThreshold(-1)


def test_false_alarm_rate_is_the_conformal_order_statistic():
    rule = FalseAlarmRateThreshold(0.1).fit(np.arange(1.0, 100.0))  # n = 99
    # rank = ceil(100 * 0.9) = 90: the 90th smallest score, so 9 of 99 calibration rows lie above it.
    assert rule.threshold_ == 90.0
    assert rule.note_ == ""
    assert rule.predict(np.arange(1.0, 100.0)).sum() == 9


def test_false_alarm_rate_with_too_few_calibration_rows_uses_the_largest_score_and_says_so():
    rule = FalseAlarmRateThreshold(0.01).fit(np.array([3.0, 1.0, 2.0]))
    assert rule.threshold_ == 3.0
    assert "only 3 calibration scores" in rule.note_


def test_false_alarm_rate_holds_on_fresh_normal_scores_over_many_draws():
    rng = np.random.default_rng(0)
    rate, n_calibration, n_fresh, draws = 0.05, 199, 1000, 400
    rates = []
    for _ in range(draws):
        rule = FalseAlarmRateThreshold(rate).fit(rng.gamma(2.0, size=n_calibration))
        rates.append(rule.predict(rng.gamma(2.0, size=n_fresh)).mean())
    rates = np.asarray(rates)
    # Split-conformal: expected false-alarm rate (n - rank + 1) / (n + 1) = 10 / 200 = rate here.
    assert rates.mean() <= rate + 0.005
    assert rates.mean() >= rate - 0.01  # and not needlessly conservative


def test_best_f1_separates_labelled_scores_exactly():
    scores = np.array([0.1, 0.2, 0.3, 0.8, 0.9, 0.25])
    labels = np.array([0, 0, 0, 1, 1, 0])
    rule = BestF1Threshold().fit(scores, labels)
    assert 0.3 <= rule.threshold_ < 0.8
    np.testing.assert_array_equal(rule.predict(scores), labels)


def test_best_f1_flags_the_row_at_the_cut_even_when_scores_tie():
    scores = np.array([0.1, 0.5, 0.5, 0.9])
    labels = np.array([0, 1, 1, 1])
    rule = BestF1Threshold().fit(scores, labels)
    np.testing.assert_array_equal(rule.predict(scores), labels)


@pytest.mark.parametrize("labels", [None, np.zeros(4), np.ones(4), np.array([0, 1, 2, 1]), np.array([0, 1])])
def test_best_f1_needs_two_class_labels_one_per_score(labels):
    with pytest.raises(ValueError, match="best_f1"):
        BestF1Threshold().fit(np.array([0.1, 0.2, 0.3, 0.4]), labels)


def test_fixed_ignores_the_scores_and_flags_strictly_above():
    rule = FixedThreshold(0.5).fit(SCORES)
    assert rule.threshold_ == 0.5
    np.testing.assert_array_equal(rule.predict([0.4, 0.5, 0.6]), [0, 0, 1])
    assert FixedThreshold(2.0).threshold_ == 2.0  # usable without fitting


@pytest.mark.parametrize("bad", [[], [1.0, np.nan], [np.inf]])
def test_fitting_on_empty_or_non_finite_scores_is_an_error(bad):
    with pytest.raises(ValueError, match="zero scores|NaN or infinite"):
        PercentileThreshold(99).fit(np.asarray(bad))


@pytest.mark.parametrize(
    ("spec", "kind", "parameter"),
    [
        ("percentile:99.5", PercentileThreshold, 99.5),
        ("contamination:0.02", ContaminationThreshold, 0.02),
        ("mean_std:3", MeanStdThreshold, 3.0),
        ("iqr:3", IqrThreshold, 3.0),
        ("false_alarm_rate:0.01", FalseAlarmRateThreshold, 0.01),
        (" fixed:-1.5 ", FixedThreshold, -1.5),
        ("best_f1", BestF1Threshold, None),
        ("percentile", PercentileThreshold, 99.0),
    ],
)
def test_parse_threshold_and_spec_round_trip(spec, kind, parameter):
    rule = parse_threshold(spec)
    assert isinstance(rule, kind)
    assert rule.parameter() == parameter
    assert type(parse_threshold(rule.to_spec())) is kind
    assert parse_threshold(rule.to_spec()).parameter() == parameter


def test_parse_threshold_passes_rule_objects_through():
    rule = MeanStdThreshold(1)
    assert parse_threshold(rule) is rule
    assert repr(rule) == "MeanStdThreshold('mean_std:1')"
    assert set(RULES) == {"percentile", "contamination", "mean_std", "iqr", "false_alarm_rate", "best_f1", "fixed"}


@pytest.mark.parametrize(
    ("spec", "error", "message"),
    [
        ("median:3", ValueError, "Unknown threshold rule 'median'; choose one of: percentile, contamination"),
        ("percentile:abc", ValueError, "is not a number; write e.g. 'percentile:0.01'"),
        (
            "percentile:100",
            ValueError,
            r"'percentile' of a threshold must be a number in \(0, 100\); got 100.0",
        ),
        ("contamination:0.6", ValueError, r"'contamination' of a threshold must be a number in \(0, 0.5\)"),
        ("false_alarm_rate:0", ValueError, r"'rate' of a threshold must be a number in \(0, 1\)"),
        ("false_alarm_rate:1.5", ValueError, r"'rate' of a threshold must be a number in \(0, 1\)"),
        ("mean_std:inf", ValueError, "'mean_std:inf' must be a finite number; write e.g. 'mean_std:3'"),
        ("fixed:nan", ValueError, "'fixed:nan' must be a finite number"),
        ("percentile:nan", ValueError, "'percentile:nan' must be a finite number; write e.g. 'percentile:99'"),
        ("iqr:-inf", ValueError, "'iqr:-inf' must be a finite number"),
        ("best_f1:0.5", ValueError, "'best_f1' threshold takes no value"),
        (0.5, TypeError, "must be a rule object or a string like 'percentile:99'"),
        (None, TypeError, "must be a rule object or a string"),
    ],
)
def test_parse_threshold_errors(spec, error, message):
    with pytest.raises(error, match=message):
        parse_threshold(spec)


def test_rule_from_dict_restores_the_fitted_value():
    rule = PercentileThreshold(95).fit(SCORES)
    restored = rule_from_dict(rule.to_dict())
    assert isinstance(restored, PercentileThreshold)
    assert restored.threshold_ == rule.threshold_
    np.testing.assert_array_equal(restored.predict(SCORES), rule.predict(SCORES))
    assert rule_from_dict({"spec": "percentile:95", "threshold": None}).to_spec() == "percentile:95"


@pytest.mark.parametrize(
    ("rule", "spec"), [(MeanStdThreshold(1e308), "mean_std:1e+308"), (MeanStdThreshold(-1e308), "mean_std:-1e+308")]
)
def test_a_rule_whose_threshold_is_not_finite_is_refused_naming_it_and_the_fix(rule, spec):
    with pytest.raises(
        ValueError,
        match=re.escape(f"The threshold rule {spec} gives a threshold that is not finite")
        + ".*choose a smaller parameter \\(e.g. mean_std:3\\)",
    ):
        rule.fit(SCORES)
    assert not hasattr(rule, "threshold_")
