"""Evaluation metrics against scikit-learn on small known arrays."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, confusion_matrix, f1_score, roc_auc_score

from aedetect.evaluation import evaluate, precision_at_n

LABELS = np.array([0, 0, 0, 0, 0, 0, 1, 0, 1, 1])
SCORES = np.array([0.1, 0.2, 0.15, 0.3, 0.7, 0.05, 0.9, 0.4, 0.35, 0.8])


def test_ranking_metrics_match_scikit_learn():
    result = evaluate(LABELS, SCORES, threshold=0.5)
    assert result.roc_auc == pytest.approx(roc_auc_score(LABELS, SCORES))
    assert result.pr_auc == pytest.approx(average_precision_score(LABELS, SCORES))
    assert result.n_rows == 10 and result.n_anomalies == 3


def test_operating_point_flags_strictly_above_the_threshold():
    result = evaluate(LABELS, SCORES, threshold=0.7)  # 0.7 itself is not flagged
    predicted = (SCORES > 0.7).astype(int)
    assert result.confusion_matrix == confusion_matrix(LABELS, predicted).tolist() == [[7, 0], [1, 2]]
    assert result.precision == 1.0
    assert result.recall == pytest.approx(2 / 3)
    assert result.f1 == pytest.approx(f1_score(LABELS, predicted))
    assert result.false_alarm_rate == 0.0
    low = evaluate(LABELS, SCORES, threshold=0.3)
    assert low.false_alarm_rate == pytest.approx(2 / 7)  # 0.7 and 0.4 among the seven normal rows


def test_precision_at_n():
    # The three highest scores are 0.9 (1), 0.8 (1), 0.7 (0).
    assert precision_at_n(LABELS, SCORES) == pytest.approx(2 / 3)
    assert precision_at_n(LABELS, SCORES, n=2) == 1.0
    assert precision_at_n(LABELS, SCORES, n=10) == pytest.approx(0.3)
    assert precision_at_n(np.zeros(4), SCORES[:4]) is None
    assert evaluate(LABELS, SCORES, 0.5).precision_at_n == pytest.approx(2 / 3)


def test_report_and_dict():
    result = evaluate(LABELS, SCORES, threshold=0.5)
    assert "normal" in result.report and "anomaly" in result.report
    assert result.report_dict["anomaly"]["recall"] == pytest.approx(2 / 3)
    assert result.to_dict()["confusion_matrix"] == [[6, 1], [1, 2]]
    assert set(result.summary()) == {
        "roc_auc",
        "pr_auc",
        "precision_at_n",
        "precision",
        "recall",
        "f1",
        "false_alarm_rate",
    }


def test_single_class_leaves_ranking_metrics_undefined():
    normal_only = evaluate(np.zeros(4), SCORES[:4], threshold=0.12)
    assert normal_only.roc_auc is None and normal_only.pr_auc is None and normal_only.precision_at_n is None
    assert normal_only.false_alarm_rate == pytest.approx(0.75)
    anomalies_only = evaluate(np.ones(3), SCORES[:3], threshold=0.12)
    assert anomalies_only.false_alarm_rate is None and anomalies_only.recall == pytest.approx(2 / 3)


def test_bad_labels():
    with pytest.raises(ValueError, match="Got 2 labels for 3 scores"):
        evaluate([0, 1], [0.1, 0.2, 0.3], 0.5)
    with pytest.raises(ValueError, match=r"0 \(normal\) or 1 \(anomaly\)"):
        evaluate([0, 2], [0.1, 0.2], 0.5)
    with pytest.raises(ValueError, match=r"found \['0.5'\]"):  # not truncated to 0
        evaluate([0, 0.5], [0.1, 0.2], 0.5)
