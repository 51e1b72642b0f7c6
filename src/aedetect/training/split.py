"""The held-out split: which normal rows the network never trains on (early stopping, the threshold)."""

from __future__ import annotations

import numpy as np

#: Fewer normal rows than this hold nothing out: a handful of rows cannot spare any for validation.
MIN_ROWS_TO_HOLD_OUT = 20


def held_out_split(n_rows: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``(held_out, train)`` among ``n_rows`` rows: a seeded permutation cut at
    ``round(n_rows * fraction)`` (nothing held out below :data:`MIN_ROWS_TO_HOLD_OUT` rows)."""
    order = np.random.default_rng(seed).permutation(n_rows)
    n_held = int(round(n_rows * fraction)) if n_rows >= MIN_ROWS_TO_HOLD_OUT else 0
    return order[:n_held], order[n_held:]


__all__ = ["MIN_ROWS_TO_HOLD_OUT", "held_out_split"]
