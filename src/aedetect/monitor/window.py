"""A rolling window of the drift checks over scored batches (``aedetect score MODEL -``).

The window keeps the last ``size`` rows' scores, flags, per-feature errors and numeric inputs; every
``every`` rows it runs :func:`aedetect.monitor.drift.check_drift` on them and hands the report on.
The errors cost one more forward pass per batch (the scores do not keep them).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from aedetect.batch.core import RowScoringCore, ScoredRows
from aedetect.monitor.drift import ALPHA, DriftReport, Observed, check_drift, numeric_inputs


class DriftWindow:
    """Feed it scored batches (:meth:`observe`); it reports every ``every`` rows on the last ``size``."""

    def __init__(
        self,
        core: RowScoringCore,
        report: Callable[[int, DriftReport], None],
        every: int = 1000,
        size: int | None = None,
        alpha: float = ALPHA,
    ) -> None:
        if every < 1 or (size is not None and size < 1):
            raise ValueError(f"--monitor-every and the window must be >= 1 rows; got {every} and {size}.")
        self.core, self.report, self.every, self.alpha = core, report, every, alpha
        self.size = size or every
        self.parts: list[Observed] = []
        self.seen = self.since = 0

    def observe(self, features, scored: ScoredRows) -> None:
        """Add a batch (its features as the core takes them, and its scores); a report falls exactly
        every ``every`` rows, inside a batch when need be."""
        errors = None
        if callable(getattr(self.core.detector, "feature_contributions", None)):
            errors = np.asarray(self.core.contributions(features)[0], dtype=np.float64)
        batch = Observed(scored.scores, scored.flags, errors, numeric_inputs(self.core, features))
        start, n_rows = 0, len(scored.scores)
        while start < n_rows:
            take = min(n_rows - start, self.every - self.since)
            self.parts.append(_rows(batch, slice(start, start + take)))
            start += take
            self.seen += take
            self.since += take
            self._trim()
            if self.since >= self.every:
                self.since = 0
                self.report(self.seen, self.check())

    def check(self) -> DriftReport:
        """The checks on the rows in the window now."""
        window = Observed(
            np.concatenate([p.scores for p in self.parts]),
            np.concatenate([p.flags for p in self.parts]),
            _joined([p.errors for p in self.parts]),
            _joined([p.inputs for p in self.parts]),
        )
        return check_drift(self.core.detector, window, self.core.threshold, self.alpha)

    def _trim(self) -> None:
        excess = sum(len(p.scores) for p in self.parts) - self.size
        while excess > 0 and self.parts:
            first = self.parts[0]
            if len(first.scores) <= excess:
                self.parts.pop(0)
                excess -= len(first.scores)
            else:
                self.parts[0] = _rows(first, slice(excess, None))
                excess = 0


def _rows(observed: Observed, rows: slice) -> Observed:
    return Observed(
        observed.scores[rows],
        observed.flags[rows],
        None if observed.errors is None else observed.errors[rows],
        None if observed.inputs is None else observed.inputs[rows],
    )


def _joined(parts: list) -> np.ndarray | None:
    return None if any(p is None for p in parts) else np.concatenate(parts)


__all__ = ["DriftWindow"]
