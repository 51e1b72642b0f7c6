"""Table -> float32 matrix: column selection, one-hot categoricals, imputation and scaling.

The fitted state is plain JSON (lists of numbers and strings), so a saved model never needs pickle.
It is fitted on normal rows only: the scaler must describe what normal looks like.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

Scaler = Literal["standard", "robust", "minmax", "none"]
Impute = Literal["none", "median", "mean"]
SCALERS = ("standard", "robust", "minmax", "none")
IMPUTES = ("none", "median", "mean")


#: Rows scaled at a time by :meth:`TablePreprocessor.transform`.
_BLOCK_ROWS = 8192


def as_frame(X, feature_names: Sequence[str] | None = None) -> pd.DataFrame:
    """Turn a DataFrame, a 2-D array or a list of rows into a DataFrame (arrays get ``x0, x1, ...``)."""
    if isinstance(X, pd.DataFrame):
        return X
    array = np.asarray(X)
    if array.ndim == 1:
        raise ValueError(
            f"Expected a 2-D table (rows x features); got a 1-D array of {array.shape[0]} values. "
            "Reshape it with X.reshape(-1, 1) for one feature or X.reshape(1, -1) for one row."
        )
    if array.ndim != 2:
        raise ValueError(f"Expected a 2-D table (rows x features); got an array of shape {array.shape}.")
    names = list(feature_names) if feature_names is not None else [f"x{i}" for i in range(array.shape[1])]
    return pd.DataFrame(array, columns=names, copy=False)  # read only: no need to copy a large array


class TablePreprocessor:
    """Fit on normal rows, then turn any table with the same columns into a float32 matrix.

    Parameters
    ----------
    categorical_features : sequence of str, optional
        Columns to one-hot encode. Categories unseen during fit encode as all zeros.
    scaler : {"standard", "robust", "minmax", "none"}
        Per-column scaling of the numeric columns. Constant columns keep scale 1 (no division by zero).
    impute : {"none", "median", "mean"}
        What to do with missing values in numeric columns; ``"none"`` rejects them.

    Examples
    --------
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"size": [1.0, 2.0, 3.0], "colour": ["red", "blue", "red"]})
    >>> prep = TablePreprocessor(categorical_features=["colour"]).fit(frame)
    >>> prep.feature_names_out_
    ['size', 'colour=blue', 'colour=red']
    >>> prep.transform(frame)[0].astype(float).round(3).tolist()
    [-1.225, 0.0, 1.0]
    """

    def __init__(
        self,
        categorical_features: Sequence[str] | None = None,
        scaler: Scaler = "standard",
        impute: Impute = "none",
    ) -> None:
        if scaler not in SCALERS:
            raise ValueError(f"Unknown scaler {scaler!r}; expected one of {', '.join(SCALERS)}.")
        if impute not in IMPUTES:
            raise ValueError(f"Unknown impute {impute!r}; expected one of {', '.join(IMPUTES)}.")
        self.categorical_features = list(categorical_features or [])
        self.scaler = scaler
        self.impute = impute

    # -- fitting -------------------------------------------------------------------------------
    def fit(self, frame: pd.DataFrame) -> TablePreprocessor:
        if len(frame) == 0:
            raise ValueError("The training table has no rows; give at least one normal row to learn from.")
        missing = [c for c in self.categorical_features if c not in frame.columns]
        if missing:
            raise ValueError(
                f"Categorical column(s) {missing} are not in the data; columns are {list(frame.columns)}."
            )
        self.columns_ = [str(c) for c in frame.columns]
        self.numeric_columns_ = [c for c in self.columns_ if c not in self.categorical_features]
        numeric = self._numeric(frame)
        if self.impute != "none":
            # Infinite values are holes too (see _fill): they must not enter the fill statistics.
            finite = np.where(np.isfinite(numeric), numeric, np.nan)
            with np.errstate(all="ignore"):
                fill = np.nanmedian(finite, axis=0) if self.impute == "median" else np.nanmean(finite, axis=0)
            self.fill_values_ = np.nan_to_num(fill, nan=0.0).tolist()
            numeric = self._fill(numeric)
        else:
            self.fill_values_ = None
        self._check_finite(numeric)
        self.offset_, self.scale_ = self._fit_scaler(numeric)
        self.categories_ = {
            c: sorted({str(v) for v in frame[c].dropna().tolist()}) for c in self.categorical_features
        }
        self.feature_names_out_ = list(self.numeric_columns_) + [
            f"{c}={v}" for c in self.categorical_features for v in self.categories_[c]
        ]
        if not self.feature_names_out_:
            raise ValueError("No features left to learn from; select at least one feature column.")
        return self

    def _fit_scaler(self, numeric: np.ndarray) -> tuple[list[float], list[float]]:
        width = numeric.shape[1]
        if self.scaler == "none" or width == 0:
            return [0.0] * width, [1.0] * width
        if self.scaler == "standard":
            fitted = StandardScaler().fit(numeric)
            offset, scale = fitted.mean_, fitted.scale_
        elif self.scaler == "robust":
            fitted = RobustScaler().fit(numeric)
            offset, scale = fitted.center_, fitted.scale_
        else:  # minmax: x * s + m == (x - (-m / s)) / (1 / s)
            fitted = MinMaxScaler().fit(numeric)
            offset, scale = fitted.data_min_, fitted.data_range_
        scale = np.where(scale > 1e-12, scale, 1.0)  # constant columns: no division by (almost) zero
        return np.asarray(offset, dtype=float).tolist(), np.asarray(scale, dtype=float).tolist()

    # -- transforming --------------------------------------------------------------------------
    def _numeric(self, frame: pd.DataFrame) -> np.ndarray:
        for column in self.numeric_columns_:
            if not (pd.api.types.is_numeric_dtype(frame[column]) or pd.api.types.is_bool_dtype(frame[column])):
                example = frame[column].dropna().iloc[0] if frame[column].notna().any() else None
                raise ValueError(
                    f"Column {column!r} is not numeric (e.g. {example!r}); declare it categorical "
                    f"(categorical_features / --categorical {column}) or leave it out of the features."
                )
        if not self.numeric_columns_:
            return np.empty((len(frame), 0), dtype=np.float64)
        return frame[self.numeric_columns_].to_numpy(dtype=np.float64, na_value=np.nan)

    def _fill(self, numeric: np.ndarray) -> np.ndarray:
        holes = ~np.isfinite(numeric)
        if holes.any():
            numeric = numeric.copy()
            numeric[holes] = np.take(np.asarray(self.fill_values_), np.nonzero(holes)[1])
        return numeric

    def _check_finite(self, numeric: np.ndarray) -> None:
        bad = ~np.isfinite(numeric)
        if bad.any():
            rows, cols = np.nonzero(bad)
            column = self.numeric_columns_[cols[0]]
            kind = "NaN" if np.isnan(numeric[rows[0], cols[0]]) else "infinite"
            raise ValueError(
                f"Column {column!r} has {int(bad.sum())} NaN or infinite value(s) (first: {kind} in row "
                f"{int(rows[0])}); clean them or choose an imputation (impute='median' / --impute median)."
            )

    def check_columns(self, frame: pd.DataFrame) -> None:
        """Raise ``ValueError`` when ``frame`` lacks columns seen during fit."""
        missing = [c for c in self.columns_ if c not in frame.columns]
        if missing:
            raise ValueError(
                f"The data lacks {len(missing)} column(s) the model was trained on: {missing[:5]}"
                f"{' ...' if len(missing) > 5 else ''}; score data with the training columns."
            )

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Return a float32 matrix with ``len(feature_names_out_)`` columns."""
        self.check_columns(frame)
        numeric = self._numeric(frame)
        if self.fill_values_ is not None:
            numeric = self._fill(numeric)
        self._check_finite(numeric)
        offset, scale = np.asarray(self.offset_), np.asarray(self.scale_)
        scaled = np.empty(numeric.shape, dtype=np.float32)
        for start in range(0, len(numeric), _BLOCK_ROWS):  # in blocks: the float64 temporary stays in cache
            block = numeric[start:start + _BLOCK_ROWS] - offset
            block /= scale
            scaled[start:start + _BLOCK_ROWS] = block
        parts = [scaled]
        if not self.categorical_features:
            return parts[0]
        for column in self.categorical_features:
            categories = self.categories_[column]
            # get_indexer gives -1 for categories unseen in fit (pd.Categorical is deprecating that).
            codes = pd.Index(categories).get_indexer(frame[column].astype(str))
            one_hot = np.zeros((len(frame), len(categories)), dtype=np.float32)
            known = codes >= 0
            one_hot[np.nonzero(known)[0], codes[known]] = 1.0
            parts.append(one_hot)
        return np.ascontiguousarray(np.concatenate(parts, axis=1), dtype=np.float32)

    def inverse_transform_numeric(self, matrix: np.ndarray) -> np.ndarray:
        """Map the numeric block of a model-space matrix back to the original units."""
        width = len(self.numeric_columns_)
        return matrix[:, :width] * np.asarray(self.scale_) + np.asarray(self.offset_)

    # -- persistence ---------------------------------------------------------------------------
    def get_state(self) -> dict:
        return {
            "categorical_features": self.categorical_features,
            "scaler": self.scaler,
            "impute": self.impute,
            "columns": self.columns_,
            "numeric_columns": self.numeric_columns_,
            "fill_values": self.fill_values_,
            "offset": self.offset_,
            "scale": self.scale_,
            "categories": self.categories_,
            "feature_names_out": self.feature_names_out_,
        }

    @classmethod
    def from_state(cls, state: dict) -> TablePreprocessor:
        prep = cls(state["categorical_features"], state["scaler"], state["impute"])
        prep.columns_ = list(state["columns"])
        prep.numeric_columns_ = list(state["numeric_columns"])
        prep.fill_values_ = state["fill_values"]
        prep.offset_ = [float(v) for v in state["offset"]]
        prep.scale_ = [float(v) for v in state["scale"]]
        prep.categories_ = {k: list(v) for k, v in state["categories"].items()}
        prep.feature_names_out_ = list(state["feature_names_out"])
        if len(prep.offset_) != len(prep.numeric_columns_) or len(prep.scale_) != len(prep.numeric_columns_):
            raise ValueError("The preprocessing state is inconsistent (scaler size differs from the columns).")
        return prep
