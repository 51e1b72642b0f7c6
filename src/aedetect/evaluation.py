"""Evaluation against labels (1 = anomaly): threshold-free ranking metrics and the operating point.

Examples
--------
>>> import numpy as np
>>> result = evaluate([0, 0, 1, 1], np.array([0.1, 0.4, 0.35, 0.8]), threshold=0.5)
>>> round(result.roc_auc, 2), round(result.pr_auc, 2), result.confusion_matrix
(0.75, 0.83, [[2, 0], [1, 1]])
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from sklearn.metrics import (
    average_precision_score,
    classification_report,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
)


@dataclass
class Evaluation:
    """Metrics of anomaly scores against 0/1 labels; ``None`` where a metric is undefined."""

    n_rows: int
    n_anomalies: int
    threshold: float
    roc_auc: float | None
    pr_auc: float | None
    precision_at_n: float | None
    precision: float
    recall: float
    f1: float
    false_alarm_rate: float | None
    confusion_matrix: list[list[int]]
    report: str
    report_dict: dict

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> dict[str, float | None]:
        keys = ("roc_auc", "pr_auc", "precision_at_n", "precision", "recall", "f1", "false_alarm_rate")
        return {k: getattr(self, k) for k in keys}


def precision_at_n(y_true, scores, n: int | None = None) -> float | None:
    """Share of anomalies among the ``n`` highest scores (``n`` = number of anomalies by default)."""
    y_true = np.asarray(y_true)
    n = int(y_true.sum()) if n is None else int(n)
    if n <= 0:
        return None
    top = np.argsort(-np.asarray(scores), kind="stable")[:n]
    return float(y_true[top].mean())


def evaluate(y_true, scores, threshold: float) -> Evaluation:
    """Evaluate ``scores`` (higher = more anomalous) flagged above ``threshold`` against ``y_true``."""
    y_true = np.asarray(y_true).astype(np.int64).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if y_true.shape != scores.shape:
        raise ValueError(f"Got {y_true.size} labels for {scores.size} scores; give one label per row.")
    if not np.isin(y_true, (0, 1)).all():
        raise ValueError("Labels must be 0 (normal) or 1 (anomaly).")
    predicted = (scores > threshold).astype(np.int64)
    both = 0 < y_true.sum() < y_true.size
    normals = y_true == 0
    return Evaluation(
        n_rows=int(y_true.size),
        n_anomalies=int(y_true.sum()),
        threshold=float(threshold),
        roc_auc=float(roc_auc_score(y_true, scores)) if both else None,
        pr_auc=float(average_precision_score(y_true, scores)) if both else None,
        precision_at_n=precision_at_n(y_true, scores),
        precision=float(precision_score(y_true, predicted, zero_division=0)),
        recall=float(recall_score(y_true, predicted, zero_division=0)),
        f1=float(f1_score(y_true, predicted, zero_division=0)),
        false_alarm_rate=float(predicted[normals].mean()) if normals.any() else None,
        confusion_matrix=confusion_matrix(y_true, predicted, labels=[0, 1]).tolist(),
        report=classification_report(
            y_true, predicted, labels=[0, 1], target_names=["normal", "anomaly"], digits=3, zero_division=0
        ),
        report_dict=classification_report(
            y_true, predicted, labels=[0, 1], target_names=["normal", "anomaly"], output_dict=True, zero_division=0
        ),
    )
