"""What a table model can take: its values' limits, the errors that name a bad cell or column, and a
table from what the user gave (a DataFrame, an array, a list of rows).

Shared by the table and array preprocessing and by every way of scoring, so that each rule and each
message lives once.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

#: The network computes in float32: a value beyond this cannot even be given to it.
FLOAT32_MAX = float(np.finfo(np.float32).max)
#: Largest scaled input (in training spreads from the training centre) that a model scores. Scores
#: square reconstruction errors and divide them by normal error levels (as small as 1e-8): an input of
#: 1e12 scores about 1e24 with the default networks, far inside float32, where from about 1e19 the
#: score overflows to inf and then NaN. A value 1e12 spreads out is a unit or parsing error, not data.
SCALED_LIMIT = 1e12


class InvalidValueError(ValueError):
    """A cell the model cannot take, at position ``row`` (0-based) of the table or array it was given.

    The message names a table's row as "data row N", counted from 1 with any header not counted, so
    that a file's N-th row below its header is data row N; an array's sample by its 0-based index, as
    NumPy counts. :meth:`shifted` renumbers it for a table that was a chunk of a larger one;
    :meth:`without_row` leaves the row out (a stream names its line instead).
    """

    def __init__(self, template: str, row: int | None, unit: str = "data row") -> None:
        self.template, self.row, self.unit = template, row, unit
        number = None if row is None else row + 1 if unit == "data row" else row
        where = "" if row is None else f" in {unit} {number}"
        super().__init__(template.replace("{where}", where))  # not format(): names may hold braces

    def shifted(self, offset: int) -> InvalidValueError:
        return InvalidValueError(self.template, None if self.row is None else self.row + offset, self.unit)

    def without_row(self) -> InvalidValueError:
        return InvalidValueError(self.template, None, self.unit)


def name_list(names: Sequence, limit: int = 5) -> str:
    """``names`` for a message: the first ``limit`` of them, and how many more there are."""
    names = list(names)
    more = f" and {len(names) - limit} more" if len(names) > limit else ""
    return f"{names[:limit]}{more}"


def check_unique_columns(columns: Sequence, what: str = "X") -> None:
    """Refuse duplicated column names (after ``str``): a column must be found by its name."""
    names = [str(c) for c in columns]
    if len(set(names)) == len(names):  # the usual case, without building an Index per call
        return
    seen = pd.Index(names)
    duplicated = seen[seen.duplicated()].unique().tolist()
    if duplicated:
        raise ValueError(f"{what} has duplicated column names {name_list(duplicated)}; give each column its own name.")


def check_in_range(numeric: np.ndarray, columns: Sequence[str], allow_missing: bool = False) -> None:
    """Raise :class:`InvalidValueError` for the first NaN, infinite or beyond-float32 cell of ``numeric``.

    With ``allow_missing`` (imputation), NaN and infinite cells are holes to fill and pass; finite
    values beyond float32 never do (they are not missing, they are wrong).
    """
    if numeric.size == 0 or (
        numeric.dtype.kind in "fiu" and -FLOAT32_MAX <= numeric.min() and numeric.max() <= FLOAT32_MAX
    ):
        return  # two reductions, no temporary: a NaN anywhere makes both comparisons false
    with np.errstate(invalid="ignore"):
        bad = ~(np.abs(numeric) <= FLOAT32_MAX)
    if allow_missing:
        bad &= np.isfinite(numeric)
    if not bad.any():
        return
    rows, cols = np.nonzero(bad)
    column, value = columns[cols[0]], numeric[rows[0], cols[0]]
    if np.isfinite(value):
        raise InvalidValueError(
            f"Column {column!r} holds {value:g}{{where}}, beyond the float32 range (magnitude up to {FLOAT32_MAX:.3g}) "
            "that the model computes in; fix the value or rescale the column (e.g. change its units).",
            int(rows[0]),
        )
    count = int((~np.isfinite(numeric[:, cols[0]])).sum())
    kind = "NaN" if np.isnan(value) else "infinite"
    raise InvalidValueError(
        f"Column {column!r} has {count} NaN or infinite value(s) (first: {kind}{{where}}); clean them or choose "
        "an imputation (impute='median' / --impute median).",
        int(rows[0]),
    )


def as_frame(X, feature_names: Sequence[str] | None = None) -> pd.DataFrame:
    """Turn a DataFrame, a 2-D array or a list of rows into a DataFrame (arrays get ``x0, x1, ...``)."""
    if isinstance(X, pd.DataFrame):
        return X
    try:
        array = np.asarray(X)
    except ValueError:  # numpy's "inhomogeneous shape": rows of different lengths
        lengths = sorted({len(row) for row in X if hasattr(row, "__len__")})
        raise ValueError(
            f"Every row must have the same number of values; got rows of {lengths[0]} and {lengths[-1]} values. "
            "Give a rectangular table."
        ) from None
    if array.ndim == 1:
        raise ValueError(
            f"Expected a 2-D table (rows x features); got a 1-D array of {array.shape[0]} values. "
            "Reshape it with X.reshape(-1, 1) for one feature or X.reshape(1, -1) for one row."
        )
    if array.ndim != 2:
        raise ValueError(f"Expected a 2-D table (rows x features); got an array of shape {array.shape}.")
    names = list(feature_names) if feature_names is not None else [f"x{i}" for i in range(array.shape[1])]
    return pd.DataFrame(array, columns=names, copy=False)  # read only: no need to copy a large array


def _is_number(value) -> bool:
    try:
        float(value)
    except (TypeError, ValueError, OverflowError):
        return False
    return True


def not_numeric_error(column: str, values: pd.Series) -> ValueError:
    """Name the first value of a non-numeric column that is not a number, and its row."""
    present = values.notna().to_numpy()
    try:
        numbers = pd.to_numeric(values, errors="coerce").notna().to_numpy()
    except (TypeError, ValueError, OverflowError):  # lists, integers beyond a float: cell by cell
        numbers = np.array([_is_number(value) for value in values], dtype=bool)
    bad = np.flatnonzero(present & ~numbers)
    row = int(bad[0]) if len(bad) else (int(np.flatnonzero(present)[0]) if present.any() else None)
    shown = "" if row is None else repr(values.iloc[row])
    example = "" if row is None else f"{shown if len(shown) <= 40 else shown[:37] + '...'}{{where}}"
    return InvalidValueError(
        f"Column {column!r} is not numeric ({example or 'no values'}); declare it categorical (categorical_features "
        f"/ --categorical {column}) or leave it out of the features.",
        row,
    )


__all__ = [
    "FLOAT32_MAX",
    "SCALED_LIMIT",
    "InvalidValueError",
    "name_list",
    "check_unique_columns",
    "check_in_range",
    "as_frame",
    "not_numeric_error",
]
