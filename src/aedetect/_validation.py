"""Declarative parameter checks with one uniform message, in scikit-learn's style, and the check of 0/1 labels."""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


class InvalidParameterError(ValueError, TypeError):
    """A constructor parameter has a value outside its documented range."""


@dataclass(frozen=True)
class Interval:
    """A numeric range; ``kind`` is ``int`` or ``float``."""

    kind: type
    low: float | None = None
    high: float | None = None
    closed: str = "both"  # "both", "left", "right", "neither"

    def accepts(self, value: Any) -> bool:
        if isinstance(value, bool):
            return False
        if self.kind is int and not isinstance(value, numbers.Integral):
            return False
        if self.kind is float and not isinstance(value, numbers.Real):
            return False
        if value != value:  # NaN
            return False
        if self.low is not None:
            if value < self.low or (value == self.low and self.closed in ("right", "neither")):
                return False
        if self.high is not None:
            if value > self.high or (value == self.high and self.closed in ("left", "neither")):
                return False
        return True

    def describe(self) -> str:
        name = "an int" if self.kind is int else "a float"
        left = ">=" if self.closed in ("both", "left") else ">"
        right = "<=" if self.closed in ("both", "right") else "<"
        if self.low is not None and self.high is not None:
            return f"{name} in the range {'[' if left == '>=' else '('}{self.low}, {self.high}{']' if right == '<=' else ')'}"
        if self.low is not None:
            return f"{name} {left} {self.low}"
        if self.high is not None:
            return f"{name} {right} {self.high}"
        return name


@dataclass(frozen=True)
class Options:
    """One of a fixed set of strings."""

    values: tuple[str, ...]

    def accepts(self, value: Any) -> bool:
        return isinstance(value, str) and value in self.values

    def describe(self) -> str:
        return "a str among {" + ", ".join(repr(v) for v in self.values) + "}"


@dataclass(frozen=True)
class Check:
    """Any predicate, with its description."""

    predicate: Callable[[Any], bool]
    description: str

    def accepts(self, value: Any) -> bool:
        try:
            return bool(self.predicate(value))
        except (TypeError, ValueError):
            return False

    def describe(self) -> str:
        return self.description


NONE = Check(lambda v: v is None, "None")


def validate_params(owner: str, params: dict[str, Any], constraints: dict[str, Iterable[Any]]) -> None:
    """Raise :class:`InvalidParameterError` for the first parameter that no constraint accepts."""
    for name, rules in constraints.items():
        rules = list(rules)
        value = params[name]
        if any(rule.accepts(value) for rule in rules):
            continue
        expected = " or ".join(rule.describe() for rule in rules)
        raise InvalidParameterError(f"The {name!r} parameter of {owner} must be {expected}; got {value!r}.")


def check_labels(y, n_rows: int) -> np.ndarray:
    """``y`` as int64 0/1 labels, one per row (1 = anomaly); a clear ValueError otherwise."""
    import numpy as np  # here, so that the parameter declaration (and the command line's help) needs neither
    import pandas as pd

    labels = np.asarray(y).ravel()
    if labels.shape[0] != n_rows:
        raise ValueError(f"y has {labels.shape[0]} labels but X has {n_rows} rows; give one label per row.")
    values = set(pd.unique(labels).tolist())
    if not values <= {0, 1}:
        bad = sorted(map(str, values - {0, 1}))[:5]
        raise ValueError(f"Labels must be 0 (normal) or 1 (anomaly); found {bad}. Map them to 0/1 first.")
    return labels.astype(np.int64)
