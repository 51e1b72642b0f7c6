"""An ensemble's members combined: their scores standardised and averaged, their per-feature values
averaged by feature name, and the check that they score alike rows (same data kind, columns, score).

The members are fitted detectors; nothing here imports one.
"""

from __future__ import annotations

import numpy as np


def standardised_mean(raw: np.ndarray, means: np.ndarray, stds: np.ndarray) -> np.ndarray:
    """The mean over members (rows of ``raw``) of each member's scores less its ``means``, over its ``stds``."""
    return ((raw - means[:, None]) / stds[:, None]).mean(axis=0)


def mean_by_name(blocks: list[tuple[list[str], np.ndarray]]) -> tuple[list[str], np.ndarray]:
    """The mean over members of per-feature values (last axis), matched by feature name.

    Members fit their one-hot encoding on their own training rows, so a rare category may be a
    feature of some members only; it is averaged over the members that have it.
    """
    names = list(dict.fromkeys(name for member_names, _ in blocks for name in member_names))
    where = {name: i for i, name in enumerate(names)}
    total = np.zeros((*blocks[0][1].shape[:-1], len(names)), dtype=np.float64)
    count = np.zeros(len(names))
    for member_names, values in blocks:
        columns = [where[name] for name in member_names]
        total[..., columns] += values
        count[columns] += 1
    return names, total / count


def disagreement(members: list) -> str | None:
    """What the members disagree on (they must share data kind, columns and score), or None."""
    first = members[0]
    checks = {
        "data kind": lambda m: m.data_kind_,
        "columns": lambda m: (  # tables only; images and series have sample_shape_ instead
            list(getattr(m.preprocessor_, "columns_", [])),
            list(getattr(m.preprocessor_, "sample_shape_", [])),
            list(getattr(m.preprocessor_, "categorical_features", [])),
        ),
        "feature names": lambda m: list(getattr(m, "feature_names_in_", [])),
        "number of features": lambda m: m.n_features_in_,
        "score": lambda m: m.score,
    }
    for what, value in checks.items():
        if any(value(m) != value(first) for m in members[1:]):
            return what
    return None


__all__ = ["standardised_mean", "mean_by_name", "disagreement"]
