"""Drift of new rows against what the model kept of its training: four checks and one verdict.

1. share flagged against the threshold's false-alarm rate on held-out normal rows;
2. recent scores against the held-out normal scores (``calibration_scores_``);
3. per-feature reconstruction errors against those of the held-out rows (normal levels
   ``feature_error_means_`` rank the features; the test needs the model's drift reference);
4. per numeric input column, the values against the training rows' deciles (the drift reference).

A model saved before the drift reference existed loads and is checked on 1 and 2 (and 3 without a
test); the report says which checks were unavailable and why. The verdict adjusts the checks'
p-values with Holm's method, so on data like the training data the chance of any false alarm is at
most ``alpha``. Statistics in :mod:`aedetect.monitor.checks`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from aedetect.batch.core import RowScoringCore
from aedetect.monitor.checks import CheckResult, FeatureShift, binned_shift, flag_rate, score_shift, verdict
from aedetect.scoring.reference import DriftReference

#: Family-wise false-alarm rate of the verdict: a scheduled job run daily raises about one false
#: alarm in a hundred runs of unchanged data.
ALPHA = 0.01
NO_REFERENCE = "the model was saved without a drift reference (train it again with this version to get it)"


@dataclass
class Observed:
    """What a window of scored rows holds for the checks."""

    scores: np.ndarray
    flags: np.ndarray
    errors: np.ndarray | None  # (rows, model features)
    inputs: np.ndarray | None  # (rows, numeric input columns)


@dataclass
class DriftReport:
    rows: int
    alpha: float
    checks: list[CheckResult] = field(default_factory=list)
    drifted: bool = False

    def to_dict(self) -> dict:
        return {
            "rows": self.rows,
            "alpha": self.alpha,
            "drifted": self.drifted,
            "checks": [c.to_dict() for c in self.checks],
        }

    def lines(self) -> list[str]:
        """One line per check: verdict, statistic, p-value and what it saw."""
        out = []
        for c in self.checks:
            state = "DRIFT" if c.drifted else ("ok" if c.available else "n/a")
            numbers = f"statistic {c.statistic:.4g}, p {c.p_value:.3g}" if c.available else "no test"
            out.append(f"{state:5} {c.title}: {numbers}; {c.detail}")
        summary = "drift found" if self.drifted else "no drift found"
        out.append(f"{summary} in {self.rows} rows (checks adjusted together, false-alarm rate {self.alpha:g})")
        return out


def drift_reference(detector) -> DriftReference | None:
    """The detector's drift reference, or None for a model saved without one."""
    return getattr(detector, "drift_reference_", None)


def observe(core: RowScoringCore, table) -> Observed:
    """Score ``table`` (pandas or pyarrow; its columns are checked) and gather what the checks need."""
    features = core.features(table)
    scored = core.score_features(features)
    errors = None
    if callable(getattr(core.detector, "feature_contributions", None)):
        errors = np.asarray(core.contributions(features)[0], dtype=np.float64)
    return Observed(scored.scores, scored.flags, errors, numeric_inputs(core, features))


def numeric_inputs(core: RowScoringCore, features) -> np.ndarray | None:
    if not isinstance(features, pd.DataFrame) or not core.numeric:
        return None
    return features[core.numeric].to_numpy(dtype=np.float64, na_value=np.nan)


def drift_of(
    detector, table, alpha: float = ALPHA, drop=(), threshold=None
) -> tuple[DriftReport, Observed, RowScoringCore]:
    """Score ``table`` (pandas or pyarrow, the model's columns; ``drop`` names others) and check it."""
    core = RowScoringCore(detector, drop=drop, threshold=threshold)
    observed = observe(core, table)
    return check_drift(detector, observed, core.threshold, alpha), observed, core


def check_drift(detector, observed: Observed, threshold: float, alpha: float = ALPHA) -> DriftReport:
    """The four checks on ``observed`` rows and the verdict at family-wise level ``alpha``."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1; got {alpha}.")
    n_rows = len(observed.scores)
    if n_rows == 0:
        raise ValueError("There are no rows to check for drift.")
    calibration = np.asarray(detector.calibration_scores_, dtype=np.float64)
    reference = drift_reference(detector)
    checks = [
        flag_rate(int(np.sum(observed.flags)), n_rows, calibration, threshold),
        score_shift(observed.scores, calibration),
        _errors_check(detector, observed, reference),
        _inputs_check(detector, observed, reference),
    ]
    report = DriftReport(n_rows, alpha, checks)
    report.drifted = verdict(checks, alpha)
    return report


def _errors_check(detector, observed: Observed, reference: DriftReference | None) -> CheckResult:
    title = "Reconstruction error per feature"
    if observed.errors is None:
        return CheckResult("feature_errors", title, None, None, "this model gives no per-feature errors")
    names = list(detector.feature_names_out_)
    levels = np.asarray(detector.feature_error_means_, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = observed.errors.mean(axis=0) / levels
    if reference is None or reference.error_edges.shape[0] != len(names):
        order = np.argsort(-ratios, kind="stable")
        ranked = [FeatureShift(names[j], float("nan"), float("nan"), float(ratios[j])) for j in order]
        top = ", ".join(f"{f.feature} ({f.change:.2f}x its normal level)" for f in ranked[:3])
        return CheckResult("feature_errors", title, None, None, f"moved most: {top}; no test: {NO_REFERENCE}", ranked)
    result = binned_shift(
        "feature_errors",
        title,
        observed.errors,
        names,
        reference.error_edges,
        reference.error_shares,
        reference.counts[1],
        ratios,
    )
    if result.available:  # say how far each moved: mean error over its normal level
        top = ", ".join(f"{f.feature} ({f.change:.2f}x normal, p {f.p_value:.2g})" for f in result.features[:3])
        result.detail = f"{len(result.features)} features tested; moved most: {top}"
    return result


def _inputs_check(detector, observed: Observed, reference: DriftReference | None) -> CheckResult:
    title = "Input distribution per column"
    numeric = list(getattr(detector.preprocessor_, "numeric_columns_", []) or [])
    if reference is None:
        return CheckResult("inputs", title, None, None, f"unavailable: {NO_REFERENCE}")
    if observed.inputs is None or reference.input_edges.shape[0] != len(numeric):
        return CheckResult("inputs", title, None, None, "unavailable: the model has no numeric input columns")
    return binned_shift(
        "inputs", title, observed.inputs, numeric, reference.input_edges, reference.input_shares, reference.counts[0]
    )


__all__ = ["ALPHA", "DriftReport", "Observed", "check_drift", "drift_of", "observe", "drift_reference"]
