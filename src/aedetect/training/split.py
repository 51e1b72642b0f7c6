"""Which rows train: the normal rows, the seed that every process draws with, and the held-out split
(the normal rows the network never trains on: early stopping, the threshold)."""

from __future__ import annotations

import numpy as np

from aedetect.partitions import Group, row_hash

# Fewest normal rows (images, windows) that fit takes: one row has no spread for the scaler and the
# latent scale, no neighbour for the kNN distance and no variation for the threshold rule to measure.
MIN_NORMAL_ROWS = 2
#: Fewer normal rows than this hold nothing out: a handful of rows cannot spare any for validation.
MIN_ROWS_TO_HOLD_OUT = 20


def normal_rows(labels: np.ndarray | None, n_rows: int, group: Group | None = None) -> np.ndarray:
    """Positions of the normal rows: all ``n_rows`` rows without ``labels``, else those labelled 0.

    Raises ``ValueError`` when the rows of all processes of ``group`` hold fewer than
    :data:`MIN_NORMAL_ROWS` normal rows.
    """
    group = group or Group()
    rows = normal_positions(labels, n_rows)
    check_normal_count(int(group.sum([len(rows)])[0]))
    return rows


def normal_positions(labels: np.ndarray | None, n_rows: int) -> np.ndarray:
    """Positions of the rows labelled 0 (checked 0/1 ``labels``), or of all ``n_rows`` rows without labels."""
    return np.arange(n_rows) if labels is None else np.flatnonzero(np.asarray(labels) == 0)


def check_normal_count(n_normal: int) -> None:
    """Raise ``ValueError`` when ``n_normal`` (normal rows of all processes) is below :data:`MIN_NORMAL_ROWS`."""
    if n_normal == 0:
        raise ValueError("There are zero normal rows to train on (every label is 1); give normal data.")
    if n_normal < MIN_NORMAL_ROWS:
        raise ValueError(
            f"Training needs at least {MIN_NORMAL_ROWS} normal rows; got {n_normal}. One row has no "
            "spread to scale by and no neighbour to compare with; give more normal data."
        )


def shared_seed(random_state: int | None, group: Group | None = None) -> int:
    """``random_state``, or a fresh draw when it is ``None``: the first process's, for all processes."""
    group = group or Group()
    seed = random_state
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1)[0] >> 1)
    return int(group.gather_objects(seed)[0])


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


__all__ = [
    "MIN_NORMAL_ROWS",
    "MIN_ROWS_TO_HOLD_OUT",
    "check_normal_count",
    "normal_positions",
    "normal_rows",
    "shared_seed",
    "held_out_split",
]
