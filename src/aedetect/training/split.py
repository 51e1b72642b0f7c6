"""The held-out split: which normal rows the network never trains on (early stopping, the threshold)."""

from __future__ import annotations

import numpy as np

from aedetect.partitions import Group, row_hash

#: Fewer normal rows than this hold nothing out: a handful of rows cannot spare any for validation.
MIN_ROWS_TO_HOLD_OUT = 20


def held_out_split(
    n_rows: int, fraction: float, seed: int, *, keys=None, group: Group | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Positions ``(held_out, train)`` among ``n_rows`` rows, each in ascending order.

    The ``round(total * fraction)`` rows with the smallest :func:`~aedetect.partitions.row_hash` of
    ``(seed, key)`` are held out (none below :data:`MIN_ROWS_TO_HOLD_OUT` rows in all), so that any
    partitioning of the rows over processes holds out the same rows. ``keys`` name the rows (by
    default their positions); with ``group`` the rows are this process's share and ``total`` counts
    the rows of all its processes.
    """
    group = group or Group()
    keys = np.arange(n_rows) if keys is None else keys
    total = int(group.sum([n_rows])[0])
    n_held = int(round(total * fraction)) if total >= MIN_ROWS_TO_HOLD_OUT else 0
    held = group.smallest(row_hash(keys, seed), n_held)
    return np.flatnonzero(held), np.flatnonzero(~held)


__all__ = ["MIN_ROWS_TO_HOLD_OUT", "held_out_split"]
