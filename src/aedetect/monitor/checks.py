"""The drift checks as statistics on arrays: each gives a statistic, a p-value and, per feature, what moved.

- :func:`flag_rate`: the share of recent rows flagged against the threshold's false-alarm rate on
  normal rows. The threshold is an order statistic of ``n`` held-out normal scores; when ``r`` of
  them lie at or below it, a new normal row is flagged with probability ``(n - r + 1) / (n + 1)`` on
  average over the calibration draw (the split-conformal guarantee of ``false_alarm_rate:RATE``,
  whose threshold keeps this at most ``RATE``), and the number flagged among ``m`` new normal rows
  follows the beta-binomial law ``BetaBinomial(m, n - r + 1, r)``: the binomial law with the rate's
  own uncertainty from a finite calibration set. The p-value is two-sided under that law, so it
  stays valid for windows longer than the calibration set (a plain binomial test would not);
  :func:`scipy.stats.binomtest` gives the confidence interval of the recent rate.
- :func:`score_shift`: two-sample Kolmogorov-Smirnov test of recent scores against the held-out
  normal scores (:func:`scipy.stats.ks_2samp`).
- :func:`binned_shift`: per feature, a two-sample chi-square test of the recent values' counts in
  the reference deciles against the reference rows' counts (inputs against the training rows;
  reconstruction errors against the held-out rows); Holm's method over the features.

:func:`holm` adjusts p-values for testing several things at once (valid under any dependence).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import stats

#: Fewest rows for a chi-square test on deciles (expected count 5 per bin).
MIN_BINNED_ROWS = 50


@dataclass
class FeatureShift:
    feature: str
    statistic: float
    p_value: float
    #: How the feature moved: the recent mean over the reference level (errors), or the recent
    #: median's position in the reference deciles (inputs).
    change: float


@dataclass
class CheckResult:
    """One check: its statistic, its p-value (adjusted over features where there are several) and
    whether it found drift once adjusted over the checks (set by :func:`verdict`)."""

    name: str
    title: str
    statistic: float | None
    p_value: float | None
    detail: str
    features: list[FeatureShift] = field(default_factory=list)
    drifted: bool = False

    @property
    def available(self) -> bool:
        return self.p_value is not None

    def to_dict(self) -> dict:
        return {
            "check": self.name,
            "statistic": _number(self.statistic),
            "p_value": _number(self.p_value),
            "drifted": self.drifted,
            "detail": self.detail,
            "features": [{k: _number(v) for k, v in vars(f).items()} for f in self.features[:10]],
        }


def _number(value):
    """A value for JSON: NaN (no test) as None, NumPy numbers as Python ones."""
    if isinstance(value, str) or value is None:
        return value
    value = float(value)
    return value if value == value else None


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjusted p-values (same order as given)."""
    p = np.asarray(p_values, dtype=np.float64)
    if not p.size:
        return p
    order = np.argsort(p, kind="stable")
    adjusted = np.maximum.accumulate(p[order] * (p.size - np.arange(p.size)))
    out = np.empty_like(p)
    out[order] = np.minimum(adjusted, 1.0)
    return out


def conformal_rate(calibration_scores: np.ndarray, threshold: float) -> tuple[int, int]:
    """``(n, r)``: calibration scores, and how many of them are at or below ``threshold``."""
    calibration = np.asarray(calibration_scores, dtype=np.float64)
    return calibration.size, int((calibration <= threshold).sum())


def flag_rate(n_flagged: int, n_rows: int, calibration_scores: np.ndarray, threshold: float) -> CheckResult:
    """Is the share flagged beyond what the threshold flags among normal rows? (see the module docstring)"""
    n, r = conformal_rate(calibration_scores, threshold)
    a, b = n - r + 1, max(r, 1)
    expected = a / (a + b)
    law = stats.betabinom(n_rows, a, b)
    pmf = law.pmf(np.arange(n_rows + 1))
    p_value = float(min(1.0, pmf[pmf <= pmf[n_flagged] * (1 + 1e-7)].sum()))
    low, high = stats.binomtest(n_flagged, n_rows).proportion_ci(0.95) if n_rows else (0.0, 1.0)
    detail = (
        f"{n_flagged} of {n_rows} rows flagged ({n_flagged / max(n_rows, 1):.2%}, 95% interval {low:.2%} to {high:.2%}); "
        f"normal rows are flagged at {expected:.2%} ({n - r} of {n} held-out normal scores lie above the threshold)"
    )
    return CheckResult("flag_rate", "Share flagged", n_flagged / max(n_rows, 1), p_value, detail)


def score_shift(recent: np.ndarray, calibration_scores: np.ndarray) -> CheckResult:
    """Two-sample Kolmogorov-Smirnov test of recent scores against the held-out normal scores."""
    recent = np.asarray(recent, dtype=np.float64)
    calibration = np.asarray(calibration_scores, dtype=np.float64)
    result = stats.ks_2samp(recent, calibration)
    shift = np.median(recent) - np.median(calibration)
    detail = (
        f"Kolmogorov-Smirnov distance {result.statistic:.3f} between {recent.size} recent scores and "
        f"{calibration.size} held-out normal scores; median moved by {shift:+.4g}"
    )
    return CheckResult("score_shift", "Score distribution", float(result.statistic), float(result.pvalue), detail)


def binned_shift(
    name: str,
    title: str,
    values: np.ndarray,
    names: list[str],
    edges: np.ndarray,
    shares: np.ndarray,
    reference_rows: float,
    changes: np.ndarray | None = None,
) -> CheckResult:
    """Chi-square test per feature of ``values`` ``(rows, features)`` binned on the reference deciles,
    Holm-adjusted over the features; the features listed most moved first."""
    from aedetect.scoring.reference import bin_counts

    counts = bin_counts(values, edges)
    # Two samples, not one against fixed shares: the reference's counts vary too, and a test that
    # ignored it would raise false alarms (7 % instead of 5 % for 400 new rows against 5,000).
    reference_counts = np.asarray(shares, dtype=np.float64) * max(float(reference_rows), 1.0)
    p_values, statistics = [], []
    for j in range(counts.shape[0]):
        table = np.vstack([counts[j], reference_counts[j]])
        table = table[:, table.sum(axis=0) > 0]
        if counts[j].sum() < MIN_BINNED_ROWS or table.shape[1] < 2:
            statistics.append(np.nan)
            p_values.append(np.nan)
            continue
        statistic, p_value, *_ = stats.chi2_contingency(table, correction=False)
        statistics.append(float(statistic))
        p_values.append(float(p_value))
    tested = ~np.isnan(np.asarray(p_values, dtype=np.float64))
    if not tested.any():
        return CheckResult(name, title, None, None, f"needs at least {MIN_BINNED_ROWS} rows with values per feature")
    adjusted = np.full(len(p_values), np.nan)
    adjusted[tested] = holm(np.asarray(p_values)[tested])
    if changes is None:  # where the recent median falls in the reference deciles (0.5 = unchanged)
        changes = _median_position(values, edges)
    features = [
        FeatureShift(names[j], statistics[j], float(adjusted[j]), float(changes[j])) for j in np.flatnonzero(tested)
    ]
    features.sort(key=lambda f: (f.p_value, -f.statistic))
    top = ", ".join(f"{f.feature} (chi-square {f.statistic:.1f}, p {f.p_value:.2g})" for f in features[:3])
    detail = f"{int(tested.sum())} features tested on their reference deciles; moved most: {top}"
    return CheckResult(name, title, features[0].statistic, features[0].p_value, detail, features)


def _median_position(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        medians = (
            np.nanmedian(np.asarray(values, dtype=np.float64), axis=0) if len(values) else np.full(len(edges), np.nan)
        )
    return np.array(
        [
            np.searchsorted(e, m, side="right") / len(e) if np.isfinite(m) else np.nan
            for e, m in zip(edges, medians, strict=True)
        ]
    )


def verdict(checks: list[CheckResult], alpha: float) -> bool:
    """Mark each available check drifted when its Holm-adjusted p-value (over the checks) is below
    ``alpha``; true when any is. The chance of any false alarm on data like the reference is at most
    ``alpha`` (Holm's method holds under any dependence between the checks)."""
    available = [c for c in checks if c.available]
    for check, p in zip(available, holm([c.p_value for c in available]), strict=True):
        check.drifted = bool(p < alpha)
    return any(c.drifted for c in checks)


__all__ = ["CheckResult", "FeatureShift", "flag_rate", "score_shift", "binned_shift", "holm", "verdict"]
