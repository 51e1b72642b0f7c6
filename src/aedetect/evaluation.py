"""Evaluation against labels (1 = anomaly): threshold-free ranking metrics and the operating point.

Examples
--------
>>> import numpy as np
>>> result = evaluate([0, 0, 1, 1], np.array([0.1, 0.4, 0.35, 0.8]), threshold=0.5)
>>> round(result.roc_auc, 2), round(result.pr_auc, 2), result.confusion_matrix
(0.75, 0.83, [[2, 0], [1, 1]])

What a threshold means, in rows: the share of held-out normal rows above it and, with labels, the
precision and recall it gives.

>>> meaning = threshold_meaning(0.5, np.linspace(0, 1, 101), "fixed:0.5", [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
>>> print(meaning.describe())
threshold fixed:0.5 = 0.5: flags 49.5% of held-out normal rows (50 of 101); on 4 labelled rows precision 1.000, recall 0.500
>>> meaning.held_out_note()
'49.5% of held-out normal rows lie above it (50 of 101)'
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

from aedetect._validation import check_labels


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


def _labels_for(y_true, scores: np.ndarray) -> np.ndarray:
    """``y_true`` as 0/1 labels, one per score; a clear ValueError otherwise."""
    y_true = np.asarray(y_true).ravel()
    if y_true.shape != scores.shape:
        raise ValueError(f"Got {y_true.size} labels for {scores.size} scores; give one label per row.")
    return check_labels(y_true, scores.size)


def evaluate(y_true, scores, threshold: float) -> Evaluation:
    """Evaluate ``scores`` (higher = more anomalous) flagged above ``threshold`` against ``y_true``."""
    scores = np.asarray(scores, dtype=np.float64).ravel()
    y_true = _labels_for(y_true, scores)
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


@dataclass(frozen=True)
class ThresholdMeaning:
    """What a threshold does, counted in rows (a row is flagged when its score is above the threshold).

    ``normal_flagged`` of ``normal_rows`` held-out normal rows (the rows the rule was fitted on, which
    the network did not train on) lie above it: the false-alarm rate to expect on new normal rows.
    With labelled rows, ``precision`` and ``recall`` at the threshold, as :func:`evaluate` gives them.
    """

    threshold: float
    rule: str | None
    normal_rows: int
    normal_flagged: int
    labelled_rows: int = 0
    precision: float | None = None
    recall: float | None = None

    @classmethod
    def of(cls, detector, y_true=None, scores=None) -> ThresholdMeaning:
        """The meaning of a fitted detector's threshold (``threshold_``, set by ``threshold_rule_``,
        against its held-out normal rows ``calibration_scores_``), with labels ``y_true`` for ``scores``."""
        rule = getattr(detector, "threshold_rule_", None)
        return threshold_meaning(
            detector.threshold_,
            getattr(detector, "calibration_scores_", None),
            None if rule is None else rule.to_spec(),
            y_true,
            scores,
        )

    @property
    def normal_share(self) -> float | None:
        """Share of held-out normal rows above the threshold (``None`` without such rows)."""
        return self.normal_flagged / self.normal_rows if self.normal_rows else None

    def held_out_note(self) -> str:
        """A short note for a line that already names the threshold: the false alarms to expect."""
        if not self.normal_rows:
            return "no held-out normal rows to tell its false-alarm rate"
        return (
            f"{100 * self.normal_share:.3g}% of held-out normal rows lie above it "
            f"({self.normal_flagged:,} of {self.normal_rows:,})"
        )

    def flagged_line(self, count: int, unit: str, flagged: int) -> str:
        """What scoring ``count`` rows (named by ``unit``) flagged, at this threshold and what it means."""
        return (
            f"scored {count} {unit}: {flagged} flagged ({flagged / max(count, 1):.2%}) at threshold "
            f"{self.threshold:.6g} ({self.held_out_note()})"
        )

    def describe(self) -> str:
        """One line: the threshold, its rule and what it flags."""
        name = f"threshold {self.rule} = {self.threshold:.6g}" if self.rule else f"threshold {self.threshold:.6g}"
        parts = [name]
        if self.normal_rows:
            parts.append(
                f": flags {100 * self.normal_share:.3g}% of held-out normal rows "
                f"({self.normal_flagged:,} of {self.normal_rows:,})"
            )
        if self.precision is not None:
            parts.append(
                f"; on {self.labelled_rows:,} labelled rows precision {self.precision:.3f}, recall {self.recall:.3f}"
            )
        return "".join(parts)


def threshold_meaning(threshold: float, normal_scores=None, rule: str | None = None, y_true=None, scores=None):
    """What ``threshold`` means: the share of ``normal_scores`` above it and, given labels ``y_true``
    (1 = anomaly) for ``scores``, precision and recall at it (the same numbers as :func:`evaluate`).

    ``normal_scores`` are scores of held-out normal rows (a detector's ``calibration_scores_``);
    ``rule`` is the spec of the rule that set the threshold, shown with it.
    """
    threshold = float(threshold)
    normal = np.asarray([] if normal_scores is None else normal_scores, dtype=np.float64).ravel()
    meaning = dict(threshold=threshold, rule=rule, normal_rows=int(normal.size))
    meaning["normal_flagged"] = int((normal > threshold).sum())
    if y_true is not None and scores is not None:
        scores = np.asarray(scores, dtype=np.float64).ravel()
        y_true = _labels_for(y_true, scores)
        predicted = scores > threshold
        meaning.update(
            labelled_rows=int(y_true.size),
            precision=float(precision_score(y_true, predicted, zero_division=0)),
            recall=float(recall_score(y_true, predicted, zero_division=0)),
        )
    return ThresholdMeaning(**meaning)
