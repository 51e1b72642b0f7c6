"""What the detector takes in: training data in its kind, the preprocessor fitted on it, and scoring
inputs checked against the columns seen in fit (one message for every way they can differ)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from aedetect.kinds import TABLE, DataKind
from aedetect.preprocessing.arrays import DEFAULT_SCALER, ArrayPreprocessor, sample_array
from aedetect.preprocessing.tables import TablePreprocessor
from aedetect.preprocessing.values import as_frame, check_unique_columns, name_list

#: Array dtype kinds that a DataFrame holds as numbers: booleans, signed and unsigned integers, floats.
_NUMBERS = "biuf"


def training_data(X, kind: DataKind) -> pd.DataFrame | np.ndarray:
    """A table as a frame whose column names are str (as they are stored and matched at scoring;
    ``DataFrame(array)`` has 0, 1, ...), images and windows as one array of samples."""
    if kind == TABLE:
        data = as_frame(X)
        return data.set_axis([str(c) for c in data.columns], axis=1)
    return sample_array(X, kind)


def fit_preprocessor(
    data,
    kind: DataKind,
    train_rows: np.ndarray,
    scaler: str,
    categorical_features,
    impute: str,
    *,
    group=None,
    row_hashes: np.ndarray | None = None,
) -> TablePreprocessor | ArrayPreprocessor:
    """The preprocessor of ``kind`` fitted on ``data[train_rows]``, after every row was checked.

    Every row is checked in the user's order, so that an error names the row of the user's data
    rather than one after shuffling; the scaling is fitted on the training rows only (a table's, with
    ``group``, on those of all processes; see :meth:`TablePreprocessor.fit`).
    """
    if kind == TABLE:
        preprocessor = TablePreprocessor(
            categorical_features, DEFAULT_SCALER[TABLE] if scaler == "auto" else scaler, impute
        )
        preprocessor.check_values(data)
        return preprocessor.fit(data.iloc[train_rows], group=group, row_hashes=row_hashes)
    preprocessor = ArrayPreprocessor(kind, scaler)
    preprocessor._check_values(data)
    return preprocessor.fit(data[train_rows])


def check_feature_names(frame: pd.DataFrame, expected: Sequence[str]) -> None:
    """The frame's columns are ``expected``, in order; else one ValueError naming what differs."""
    names = [str(c) for c in frame.columns]
    expected = list(expected)
    if names == expected:  # the names seen in fit are unique, so these are too
        return
    check_unique_columns(names)
    missing = [c for c in expected if c not in names]
    extra = [c for c in names if c not in expected]
    raise ValueError(
        "The feature names differ from those seen in fit: "
        + (f"missing {name_list(missing)}" if missing else "")
        + ("; " if missing and extra else "")
        + (f"unexpected {name_list(extra)}" if extra else "")
        + ("" if missing or extra else "same names in another order")
        + "; score data with the training columns, in the same order."
    )


def scoring_matrix(
    preprocessor, kind: DataKind, X, n_features_in: int, feature_names_in: Sequence[str] | None, owner: str
) -> np.ndarray:
    """``X`` checked against what was seen in fit (names, or the number of features) and transformed
    into the network's input matrix; ``owner`` is the estimator's name in the messages."""
    if kind != TABLE:
        if isinstance(X, pd.DataFrame) and feature_names_in is not None:
            check_feature_names(X, feature_names_in)
        return preprocessor.transform(X)
    if isinstance(X, pd.DataFrame):
        frame = X
        if feature_names_in is not None:
            check_feature_names(frame, feature_names_in)
        elif frame.shape[1] != n_features_in:
            raise ValueError(
                f"X has {frame.shape[1]} features, but {owner} was fitted with "
                f"{n_features_in} features; score data with the training columns."
            )
        if frame.columns.tolist() != preprocessor.columns_:  # names that are not str, such as 0, 1, ...
            frame = frame.set_axis(preprocessor.columns_, axis=1)
    else:
        array = np.asarray(X)
        if array.ndim == 2 and array.shape[1] != n_features_in:
            raise ValueError(
                f"X has {array.shape[1]} features, but {owner} was fitted with "
                f"{n_features_in} features; score data with the training columns."
            )
        if array.ndim == 2 and array.dtype.kind in _NUMBERS and not preprocessor.categorical_features:
            # A matrix of numbers: scaled as it is, the same float32 matrix as through a DataFrame.
            return preprocessor.transform_numeric(array.astype(np.float64, copy=False))
        frame = as_frame(array, preprocessor.columns_)
    return preprocessor.transform(frame)


__all__ = ["training_data", "fit_preprocessor", "check_feature_names", "scoring_matrix"]
