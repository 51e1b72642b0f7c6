"""Warnings when a model is poor or its threshold misfires, each with the likely cause and the fix.

:func:`diagnose` reads what a fitted detector holds (its training history, the scores of its
held-out normal rows and its threshold) and, given scored rows, what the threshold does on them
(with labels: on their normal rows and on their anomalies). The training summary of
``aedetect train`` and the report show what it finds. Each check is a small function over plain
arrays, so it can be used on its own.

Examples
--------
>>> import numpy as np
>>> calibration = np.linspace(0.0, 1.0, 200)           # held-out normal rows: 1 % lie above 0.99
>>> drifted = np.linspace(0.5, 3.0, 500)                # normal rows whose level has moved
>>> print(flag_rate(drifted, calibration, 0.99, labelled=True).problem)
the threshold flags 80.4% of the normal rows, against 1.0% of held-out normal rows
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aedetect.evaluation import threshold_meaning

#: A share flagged counts as "far above" the held-out rate when it is this many times that rate and
#: at least MIN_EXCESS above it (a handful of rows over a tiny rate is no sign of trouble).
FAR_ABOVE, MIN_EXCESS = 3.0, 0.05
#: Fewer rows than this say too little about a share to warn about it, and fewer flagged rows than
#: MIN_FLAGGED may be chance (5 of 30 rows at an expected 1 % is not).
MIN_ROWS, MIN_FLAGGED = 20, 5
#: Recall below this, with at least LARGE_SHARE of the rows labelled anomalous, is a misfiring threshold.
LOW_RECALL, LARGE_SHARE = 0.2, 0.05
#: Below this ROC-AUC the scores hardly rank anomalies above normal rows: no threshold can help.
POOR_ROC_AUC = 0.65
#: Training counts as still improving when the monitored loss fell by more than this share over the
#: last fifth of the epochs (at least the last one).
STILL_IMPROVING = 0.01


@dataclass(frozen=True)
class Diagnosis:
    """One problem found, what most likely causes it, and what to do."""

    check: str
    problem: str
    cause: str
    fix: str

    def __str__(self) -> str:
        return f"{self.problem}. Likely cause: {self.cause}. Fix: {self.fix}."


def training_budget(values: dict, best_epoch: int, stopped_epoch: int, on_budget: bool = False) -> Diagnosis | None:
    """The epoch budget ended training (``on_budget``, the history's ``stopped_on_budget``, or the last
    epoch was the best) while the loss was still falling."""
    key = "val_loss" if values.get("val_loss") else "loss"
    losses = np.asarray(values.get(key, []), dtype=np.float64)
    if losses.size < 2 or stopped_epoch != losses.size or not (on_budget or best_epoch == stopped_epoch):
        return None
    recent = max(1, losses.size // 5)
    before, last = losses[-recent - 1], losses[-1]
    if not (np.isfinite(before) and np.isfinite(last)) or before <= 0 or (before - last) / before <= STILL_IMPROVING:
        return None
    which = "validation loss" if key == "val_loss" else "training loss"
    return Diagnosis(
        "training-budget",
        f"training ended on its budget of {stopped_epoch} epochs while still improving: the {which} fell "
        f"{(before - last) / before:.1%} over the last {recent} epoch{'s' if recent > 1 else ''}",
        "too few epochs for this data; the model is not fully trained and scores normal rows noisily",
        f"raise --epochs (epochs= in Python), e.g. to {2 * stopped_epoch}; early stopping ends training once "
        "the validation loss levels off",
    )


def flag_rate(scores, calibration_scores, threshold: float, labelled: bool) -> Diagnosis | None:
    """The threshold flags far more of these rows than of the held-out normal rows.

    ``scores`` are of rows known to be normal (``labelled=True``) or of unlabelled rows.
    """
    scores = np.asarray(scores, dtype=np.float64).ravel()
    calibration = np.asarray(calibration_scores, dtype=np.float64).ravel()
    if scores.size < MIN_ROWS or calibration.size == 0:
        return None
    expected = threshold_meaning(threshold, calibration).normal_share
    flagged = int((scores > threshold).sum())
    observed = flagged / scores.size
    limit = max(FAR_ABOVE * expected, expected + MIN_EXCESS)
    if not labelled:
        limit = max(limit, 0.2)  # unlabelled rows may hold anomalies: warn only when most could not be
    if observed <= limit or flagged < MIN_FLAGGED:
        return None
    typical = float(np.median(scores))
    moved = float((calibration < typical).mean())
    rows = "normal rows" if labelled else "rows"
    return Diagnosis(
        "flag-rate",
        f"the threshold flags {observed:.1%} of the {rows}, against {expected:.1%} of held-out normal rows",
        f"these rows differ from the training data: their median score lies above {moved:.0%} of held-out "
        "normal rows' scores (a level drift, other units or scaling, a new regime of the process)"
        + ("" if labelled else ", unless most of them really are anomalies"),
        "retrain on normal data that cover this period or regime (for a series: a span that holds the drift), "
        "or check that the columns have the units and scaling of the training data",
    )


def missed_anomalies(y_true, scores, threshold: float, rule: str | None = None) -> Diagnosis | None:
    """On labelled rows with many anomalies, the threshold catches very few of them."""
    from sklearn.metrics import roc_auc_score

    from aedetect.thresholds import BestF1Threshold

    y_true = np.asarray(y_true).astype(np.int64).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    n_anomalies = int(y_true.sum())
    if y_true.size < MIN_ROWS or n_anomalies < 2 or n_anomalies == y_true.size:
        return None
    share = n_anomalies / y_true.size
    meaning = threshold_meaning(threshold, None, rule, y_true, scores)
    if share < LARGE_SHARE or meaning.recall >= LOW_RECALL:
        return None
    problem = (
        f"the threshold catches {meaning.recall:.0%} of the anomalies ({n_anomalies:,} rows, {share:.0%} of the data)"
    )
    roc_auc = float(roc_auc_score(y_true, scores))
    if roc_auc < POOR_ROC_AUC:
        return Diagnosis(
            "poor-ranking",
            problem,
            f"the scores hardly rank anomalies above normal rows (ROC-AUC {roc_auc:.2f}), so no threshold can "
            "catch them without flagging normal rows alike",
            "train on normal rows only (give --label-column so labelled anomalies are left out of training), "
            "try another score (--score) or a larger latent size, and check that the anomalies show in the "
            "columns given to the model",
        )
    best = BestF1Threshold().fit(scores, y_true).threshold_
    at_best = threshold_meaning(best, None, "best_f1", y_true, scores)
    return Diagnosis(
        "missed-anomalies",
        problem,
        f"the rule {rule or 'in use'} is set for a false-alarm rate on normal rows, which flags far fewer rows "
        f"than the {share:.0%} of anomalies here",
        f"choose the threshold for the share of anomalies you expect: --threshold best_f1 with these labels "
        f"(here recall {at_best.recall:.2f}, precision {at_best.precision:.2f}), or in Python "
        f"set_threshold('contamination:{min(share, 0.49):.2g}', X) fitted on such data; the report's threshold "
        "slider shows the trade",
    )


def diagnose(detector, scores=None, labels=None) -> list[Diagnosis]:
    """Every problem found in ``detector`` and, given them, in the ``scores`` of some rows (with 0/1
    ``labels``, 1 = anomaly, optional) at the detector's threshold."""
    found = []
    members = getattr(detector, "members_", None) or [detector]
    for number, member in enumerate(members, start=1):
        history = getattr(member, "history_", None)
        if history is None:
            continue
        problem = training_budget(
            history.values, history.best_epoch, history.stopped_epoch, getattr(history, "stopped_on_budget", False)
        )
        if problem is not None:
            if len(members) > 1:
                problem = Diagnosis(problem.check, f"member {number}: {problem.problem}", problem.cause, problem.fix)
            found.append(problem)
            break  # members train alike: one warning says it
    if scores is None:
        return found
    threshold = float(detector.threshold_)
    calibration = getattr(detector, "calibration_scores_", None)
    scores = np.asarray(scores, dtype=np.float64).ravel()
    labels = None if labels is None else np.asarray(labels).astype(np.int64).ravel()
    labelled = labels is not None and 0 < labels.sum() < labels.size
    if calibration is not None:
        normal = scores[labels == 0] if labels is not None else scores
        problem = flag_rate(normal, calibration, threshold, labelled=labels is not None)
        if problem is not None:
            found.append(problem)
    if labelled:
        rule = getattr(getattr(detector, "threshold_rule_", None), "to_spec", lambda: None)()
        problem = missed_anomalies(labels, scores, threshold, rule)
        if problem is not None:
            found.append(problem)
    return found


def summary_lines(detector, scores=None, labels=None) -> list[str]:
    """What the command line prints after training or evaluating: what the threshold means (the share
    of held-out normal rows above it; with ``labels`` for ``scores``, precision and recall at it),
    then one line per problem :func:`diagnose` finds, each with its likely cause and fix."""
    from aedetect.evaluation import ThresholdMeaning

    labelled = labels is not None and scores is not None
    meaning = ThresholdMeaning.of(detector, labels if labelled else None, scores if labelled else None)
    head = rotation_head_choice(detector)
    return (
        [meaning.describe()]
        + ([head] if head else [])
        + [f"warning: {problem}" for problem in diagnose(detector, scores, labels)]
    )


def rotation_head_choice(detector) -> str | None:
    """Whether an image model kept the rotation head it trained, and what the held-out images showed
    (``rotation_head="auto"``, :func:`~aedetect.training.sizing.rotation_head_supported`); ``None``
    when no rotation head was trained."""
    from aedetect.training.sizing import ROTATION, best_rotation_accuracy

    members = getattr(detector, "members_", None) or [detector]
    trained = [m for m in members if getattr(m, "history_", None) and best_rotation_accuracy(m.history_) is not None]
    if not trained:
        return None
    kept = sum(bool(getattr(m.model_config_, "rotation_head", False)) for m in trained)
    accuracy = best_rotation_accuracy(trained[0].history_)
    where = f"{kept} of {len(trained)} members" if len(trained) > 1 else ("kept" if kept else "left out")
    told = f"{accuracy:.0%} of held-out quarter turns told right at the best epoch" + (
        " (first member)" if len(trained) > 1 else ""
    )
    if getattr(trained[0], "rotation_head", "auto") is True:
        return f"rotation head: {where} ({told}; rotation_head=True keeps it)"
    rule = (
        f"kept where at least {ROTATION['min_accuracy']:.0%} are told right, "
        f"on at least {ROTATION['min_held_out']} held-out images"
    )
    if kept < len(trained) and accuracy >= ROTATION["min_accuracy"]:
        rule += "; too few held-out images to judge"
    fix = "" if kept == len(trained) else "; rotation_head=True (--rotation-head) keeps it"
    return f"rotation head: {where} ({told}; {rule}){fix}"


__all__ = [
    "Diagnosis",
    "diagnose",
    "flag_rate",
    "missed_anomalies",
    "rotation_head_choice",
    "summary_lines",
    "training_budget",
]
