"""Threshold rules: small objects fitted on anomaly scores, swappable after training.

Every rule flags a row as an anomaly when its score is **strictly greater** than ``threshold_``
(higher score = more anomalous). Rules are fitted on scores of normal rows that the network did not
train on (the detector's held-out rows), except :class:`BestF1Threshold`, which needs labels, and
:class:`ContaminationThreshold`, which is fitted on whatever rows it is given.

Examples
--------
>>> import numpy as np
>>> rule = parse_threshold("percentile:90").fit(np.arange(100.0))
>>> round(rule.threshold_, 1)
89.1
>>> rule.to_spec()
'percentile:90'
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np


class ThresholdRule:
    """Base class: ``fit(scores, y=None)`` sets ``threshold_``; ``predict(scores)`` gives 0/1."""

    name = "base"
    threshold_: float

    def fit(self, scores: np.ndarray, y: np.ndarray | None = None) -> ThresholdRule:
        scores = _check_scores(scores)
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow is refused just below
            threshold = float(self._compute(scores, y))
        if not math.isfinite(threshold):
            raise ValueError(
                f"The threshold rule {self.to_spec()} gives a threshold that is not finite ({threshold}) on these "
                f"scores; choose a smaller parameter (e.g. {type(self)().to_spec()})."
            )
        self.threshold_ = threshold
        return self

    def _compute(self, scores: np.ndarray, y: np.ndarray | None) -> float:
        raise NotImplementedError

    def predict(self, scores: np.ndarray) -> np.ndarray:
        return (np.asarray(scores) > self.threshold_).astype(np.int64)

    def parameter(self) -> float | None:
        return None

    def to_spec(self) -> str:
        value = self.parameter()
        return self.name if value is None else f"{self.name}:{value:g}"

    def to_dict(self) -> dict:
        return {"spec": self.to_spec(), "threshold": getattr(self, "threshold_", None)}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.to_spec()!r})"


def _check_scores(scores) -> np.ndarray:
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if scores.size == 0:
        raise ValueError("Cannot fit a threshold on zero scores; give at least one normal row.")
    if not np.isfinite(scores).all():
        raise ValueError("Cannot fit a threshold on NaN or infinite scores.")
    return scores


def _in_range(name: str, value: float, low: float, high: float, hint: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (low < value < high):
        raise ValueError(f"The {name!r} of a threshold must be a number in ({low}, {high}); got {value!r}. {hint}")
    return float(value)


@dataclass(repr=False)
class PercentileThreshold(ThresholdRule):
    """The given percentile of normal scores: about ``100 - percentile`` % of normal rows are flagged.

    The percentile is taken of the scores of the held-out normal rows (the detector's
    ``calibration_scores_``, which the network did not train on) or of the rows given to
    ``set_threshold``, interpolating linearly between two scores (numpy's default). It aims at the
    share of those rows flagged, while :class:`FalseAlarmRateThreshold` takes a whole rank, rounded
    up so that new normal rows are flagged at most at its rate: with 100 held-out rows
    ``false_alarm_rate:0.01`` is the largest score and flags none of them, and ``percentile:99.5``
    lies between the two largest and flags one. So a higher percentile can still give a lower
    threshold; :func:`aedetect.evaluation.threshold_meaning` says how many rows each one flags.

    >>> import numpy as np
    >>> held_out = np.arange(100.0)
    >>> PercentileThreshold(99.5).fit(held_out).threshold_ < FalseAlarmRateThreshold(0.01).fit(held_out).threshold_
    True
    """

    percentile: float = 99.0
    name = "percentile"

    def __post_init__(self) -> None:
        _in_range("percentile", self.percentile, 0, 100, "e.g. percentile:99")

    def parameter(self) -> float:
        return self.percentile

    def _compute(self, scores, y):
        return np.percentile(scores, self.percentile)


@dataclass(repr=False)
class ContaminationThreshold(ThresholdRule):
    """Flag the expected share of anomalies among the rows the rule is fitted on (PyOD's convention)."""

    contamination: float = 0.01
    name = "contamination"

    def __post_init__(self) -> None:
        _in_range("contamination", self.contamination, 0, 0.5, "e.g. contamination:0.02")

    def parameter(self) -> float:
        return self.contamination

    def _compute(self, scores, y):
        return np.percentile(scores, 100 * (1 - self.contamination))


@dataclass(repr=False)
class MeanStdThreshold(ThresholdRule):
    """Mean plus ``k`` standard deviations of normal scores (the tutorials' rule with k=1)."""

    k: float = 3.0
    name = "mean_std"

    def __post_init__(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, (int, float)) or not math.isfinite(self.k):
            raise ValueError(f"The 'k' of a threshold must be a finite number; got {self.k!r}. e.g. mean_std:3")

    def parameter(self) -> float:
        return self.k

    def _compute(self, scores, y):
        return scores.mean() + self.k * scores.std()


@dataclass(repr=False)
class IqrThreshold(ThresholdRule):
    """Tukey's fence: the third quartile of normal scores plus ``k`` interquartile ranges.

    ``k=1.5`` is the box plot's outlier fence, ``k=3`` its "far out" fence. The quartiles come from
    the middle of the normal scores, so a few odd rows among them (which set a false-alarm-rate
    quantile or inflate a standard deviation) hardly move the threshold, and a few hundred
    calibration rows already fix it well.
    """

    k: float = 1.5
    name = "iqr"

    def __post_init__(self) -> None:
        _in_range("k", self.k, 0, math.inf, "e.g. iqr:3")

    def parameter(self) -> float:
        return self.k

    def _compute(self, scores, y):
        lower, upper = np.percentile(scores, [25, 75])
        return upper + self.k * (upper - lower)


@dataclass(repr=False)
class FalseAlarmRateThreshold(ThresholdRule):
    """A split-conformal threshold for a target false-alarm rate ``rate``.

    Fitted on ``n`` scores of normal rows that played no part in training, the threshold is the
    ``ceil((n + 1)(1 - rate))``-th smallest score. Guarantee: a new normal row drawn from the same
    distribution as those rows is flagged with probability at most ``rate`` (on average over the
    calibration draw). It does not bound how many anomalies are missed. With fewer than
    ``1 / rate - 1`` calibration rows no finite threshold can give the guarantee, and the largest
    score is used instead (a warning is recorded in ``note_``).
    """

    rate: float = 0.01
    name = "false_alarm_rate"
    note_: str = field(default="", init=False)

    def __post_init__(self) -> None:
        _in_range("rate", self.rate, 0, 1, "e.g. false_alarm_rate:0.01")

    def parameter(self) -> float:
        return self.rate

    def _compute(self, scores, y):
        n = scores.size
        rank = math.ceil((n + 1) * (1 - self.rate))
        ordered = np.sort(scores)
        if rank > n:
            self.note_ = (
                f"only {n} calibration scores: too few for a false-alarm rate of {self.rate}; the largest score is used"
            )
            return ordered[-1]
        self.note_ = ""
        # Flag strictly above the rank-th smallest score, so at most (n - rank) of n are flagged.
        return ordered[rank - 1]


@dataclass(repr=False)
class BestF1Threshold(ThresholdRule):
    """The threshold that maximises F1 on labelled scores (1 = anomaly). Needs labels."""

    name = "best_f1"

    def _compute(self, scores, y):
        if y is None:
            raise ValueError("The 'best_f1' threshold needs labels; pass y (or --label-column) when fitting it.")
        y = np.asarray(y).ravel()
        if y.shape != scores.shape or not np.isin(y, (0, 1)).all() or y.min() == y.max():
            raise ValueError("The 'best_f1' threshold needs 0/1 labels with both classes, one per score.")
        from sklearn.metrics import precision_recall_curve  # scikit-learn only when labels pick the threshold

        precision, recall, cut = precision_recall_curve(y, scores)
        with np.errstate(invalid="ignore", divide="ignore"):
            f1 = np.nan_to_num(2 * precision * recall / (precision + recall))
        best = int(np.argmax(f1[:-1]))
        # precision_recall_curve flags score >= cut; our rules flag score > threshold.
        return np.nextafter(cut[best], -np.inf)


@dataclass(repr=False)
class FixedThreshold(ThresholdRule):
    """A threshold given by the user; fitting changes nothing."""

    value: float = 0.0
    name = "fixed"

    def __post_init__(self) -> None:
        if isinstance(self.value, bool) or not isinstance(self.value, (int, float)) or not math.isfinite(self.value):
            raise ValueError(f"A fixed threshold must be a finite number; got {self.value!r}.")
        self.threshold_ = float(self.value)

    def parameter(self) -> float:
        return self.value

    def fit(self, scores=None, y=None) -> FixedThreshold:
        self.threshold_ = float(self.value)
        return self


RULES: dict[str, type[ThresholdRule]] = {
    rule.name: rule
    for rule in (
        PercentileThreshold,
        ContaminationThreshold,
        MeanStdThreshold,
        IqrThreshold,
        FalseAlarmRateThreshold,
        BestF1Threshold,
        FixedThreshold,
    )
}


def parse_threshold(spec: str | ThresholdRule) -> ThresholdRule:
    """Build a rule from ``"name"`` or ``"name:value"`` (e.g. ``"false_alarm_rate:0.01"``)."""
    if isinstance(spec, ThresholdRule):
        return spec
    if not isinstance(spec, str):
        raise TypeError(f"A threshold must be a rule object or a string like 'percentile:99'; got {spec!r}.")
    name, _, value = spec.strip().partition(":")
    if name not in RULES:
        raise ValueError(f"Unknown threshold rule {name!r}; choose one of: {', '.join(RULES)}.")
    if not value:
        return RULES[name]()
    if name == "best_f1":
        raise ValueError("The 'best_f1' threshold takes no value; write it as 'best_f1'.")
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"The threshold value in {spec!r} is not a number; write e.g. '{name}:0.01'.") from None
    if not math.isfinite(number):
        raise ValueError(
            f"The threshold value in {spec!r} must be a finite number; write e.g. '{RULES[name]().to_spec()}'."
        )
    return RULES[name](number)


def fresh_rule(spec: str | ThresholdRule) -> ThresholdRule:
    """An unfitted rule from a spec, or a new copy of a rule object: fitting it never changes the
    estimator parameter that it came from."""
    return parse_threshold(spec.to_spec() if isinstance(spec, ThresholdRule) else spec)


def rule_from_dict(data: dict) -> ThresholdRule:
    rule = parse_threshold(data["spec"])
    if data.get("threshold") is not None:
        rule.threshold_ = float(data["threshold"])
    return rule
