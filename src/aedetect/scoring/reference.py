"""What the training data looked like, kept in the model for drift checks (:mod:`aedetect.monitor`).

Per numeric input column, the deciles of the training rows and the share of those rows in each bin
between them; per model feature, the same for the reconstruction errors of the held-out normal rows.
New data is binned on the same edges and compared with these shares (a chi-square test per feature).
Ten bins keep the model small and the test's expected counts large enough from 50 rows on.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Bins per feature: the deciles.
N_BINS = 10


@dataclass
class DriftReference:
    """Bin edges (``(features, N_BINS - 1)``, inner edges) and the reference rows' share in each bin
    (``(features, N_BINS)``) for the numeric inputs and for the per-feature reconstruction errors."""

    input_edges: np.ndarray
    input_shares: np.ndarray
    error_edges: np.ndarray
    error_shares: np.ndarray
    #: Rows behind the input and the error shares (the floor of a share that was empty there).
    counts: np.ndarray

    def arrays(self) -> dict[str, np.ndarray]:
        """The reference as named float64 arrays (how the model folder keeps it)."""
        return {f"drift_{name}": np.asarray(value, dtype=np.float64) for name, value in vars(self).items()}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> DriftReference:
        return cls(**{name: np.asarray(arrays[f"drift_{name}"], dtype=np.float64) for name in cls.__annotations__})


def bin_edges(values: np.ndarray) -> np.ndarray:
    """Inner decile edges of each column of ``values`` (NaN left out), ``(columns, N_BINS - 1)``."""
    values = np.asarray(values, dtype=np.float64)
    if values.shape[1] == 0:
        return np.empty((0, N_BINS - 1))
    quantiles = np.linspace(0, 1, N_BINS + 1)[1:-1]
    with np.errstate(all="ignore"), _quiet_all_nan():
        edges = np.nanquantile(values, quantiles, axis=0).T
    return np.nan_to_num(edges, nan=0.0)


def bin_counts(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Rows of each column of ``values`` in each bin between ``edges`` (NaN not counted), ``(columns, N_BINS)``."""
    values = np.asarray(values, dtype=np.float64)
    counts = np.zeros((edges.shape[0], edges.shape[1] + 1), dtype=np.int64)
    for j, column_edges in enumerate(edges):
        column = values[:, j]
        column = column[~np.isnan(column)]
        counts[j] = np.bincount(np.searchsorted(column_edges, column, side="right"), minlength=counts.shape[1])
    return counts


def fit_drift_reference(inputs: np.ndarray, errors: np.ndarray) -> DriftReference:
    """The reference of training inputs ``(rows, numeric columns)`` and held-out errors ``(rows, features)``."""
    input_edges, error_edges = bin_edges(inputs), bin_edges(errors)
    input_counts, error_counts = bin_counts(inputs, input_edges), bin_counts(errors, error_edges)
    return DriftReference(
        input_edges,
        _shares(input_counts),
        error_edges,
        _shares(error_counts),
        np.array([len(inputs), len(errors)], dtype=np.float64),
    )


def _shares(counts: np.ndarray) -> np.ndarray:
    totals = np.maximum(counts.sum(axis=1, keepdims=True), 1)
    return counts / totals


class _quiet_all_nan:
    """A column of NaN only has no quantiles: its edges become 0, silently."""

    def __enter__(self):
        import warnings

        self._catcher = warnings.catch_warnings()
        self._catcher.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._catcher.__exit__(*exc)


__all__ = ["DriftReference", "fit_drift_reference", "bin_edges", "bin_counts", "N_BINS"]
