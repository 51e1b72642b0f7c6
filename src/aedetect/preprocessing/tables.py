"""Table -> float32 matrix: column selection, one-hot categoricals, imputation and scaling.

The fitted state is plain JSON (lists of numbers and strings), so a saved model never needs pickle.
It is fitted on normal rows only: the scaler must describe what normal looks like.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import pandas as pd
from sklearn.preprocessing import RobustScaler

from aedetect.partitions import Group
from aedetect.preprocessing.values import (
    SCALED_LIMIT,
    InvalidValueError,
    check_in_range,
    check_unique_columns,
    name_list,
    not_numeric_error,
)

Scaler = Literal["standard", "robust", "minmax", "none"]
Impute = Literal["none", "median", "mean"]
SCALERS = ("standard", "robust", "minmax", "none")
IMPUTES = ("none", "median", "mean")


#: Rows scaled at a time by :meth:`TablePreprocessor.transform`.
_BLOCK_ROWS = 8192
#: Rows that the robust scaler's quartiles and the median imputation come from: the training rows with
#: the smallest row hashes (every row of a smaller table), so that any size of data and any partitioning
#: of it over processes give the same sample, held in memory at once.
QUANTILE_SAMPLE_ROWS = 100_000


def _is_numeric(dtype) -> bool:
    """A column of this dtype holds numbers (or booleans, taken as 0 and 1)."""
    return pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_bool_dtype(dtype)


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
    def fit(
        self, frame: pd.DataFrame, *, group: Group | None = None, row_hashes: np.ndarray | None = None
    ) -> TablePreprocessor:
        """Fit on the normal rows ``frame``; with ``group``, on the rows of all its processes.

        Means and spreads come from float64 sums over all rows, ranges from the extremes, and
        quartiles and medians from the :data:`QUANTILE_SAMPLE_ROWS` rows with the smallest
        ``row_hashes`` (:func:`~aedetect.partitions.row_hash`; the first rows when not given).
        """
        group = group or Group()
        if group.sum([len(frame)])[0] == 0:
            raise ValueError("The training table has no rows; give at least one normal row to learn from.")
        missing = [c for c in self.categorical_features if c not in frame.columns]
        if missing:
            raise ValueError(f"Categorical column(s) {missing} are not in the data; columns are {list(frame.columns)}.")
        check_unique_columns(frame.columns)
        self.columns_ = [str(c) for c in frame.columns]
        self.numeric_columns_ = [c for c in self.columns_ if c not in self.categorical_features]
        numeric = self._numeric(frame)
        check_in_range(numeric, self.numeric_columns_, allow_missing=self.impute != "none")
        order = np.arange(len(frame), dtype=np.uint64) if row_hashes is None else np.asarray(row_hashes)
        sampled = (
            group.smallest(order, QUANTILE_SAMPLE_ROWS) if self.impute == "median" or self.scaler == "robust" else None
        )
        if self.impute != "none":
            # Infinite values are holes too (see _fill): they must not enter the fill statistics.
            finite = np.where(np.isfinite(numeric), numeric, np.nan)
            with np.errstate(all="ignore"):
                if self.impute == "median":
                    fill = np.nanmedian(group.gather(finite[sampled]), axis=0)
                else:
                    present = np.isfinite(finite)
                    sums = group.sum(np.concatenate([np.where(present, finite, 0).sum(axis=0), present.sum(axis=0)]))
                    fill = sums[: finite.shape[1]] / sums[finite.shape[1] :]
            self.fill_values_ = np.nan_to_num(fill, nan=0.0).tolist()
            numeric = self._fill(numeric)
        else:
            self.fill_values_ = None
        self.offset_, self.scale_ = self._fit_scaler(numeric, group, sampled)
        seen = group.gather_objects(
            {c: {str(v) for v in frame[c].dropna().tolist()} for c in self.categorical_features}
        )
        self.categories_ = {c: sorted(set().union(*(part[c] for part in seen))) for c in self.categorical_features}
        self.feature_names_out_ = list(self.numeric_columns_) + [
            f"{c}={v}" for c in self.categorical_features for v in self.categories_[c]
        ]
        if not self.feature_names_out_:
            raise ValueError("No features left to learn from; select at least one feature column.")
        return self

    def check_values(self, frame: pd.DataFrame) -> None:
        """Before :meth:`fit`: raise for the first cell of ``frame`` that no fit could take.

        Text in a numeric column, NaN or infinite values without imputation, values beyond float32;
        the error names the row of ``frame`` (fit sees shuffled rows, whose numbers mean nothing).
        """
        check_unique_columns(frame.columns)
        columns = [str(c) for c in frame.columns if str(c) not in self.categorical_features]
        numeric = self._numeric(frame.set_axis([str(c) for c in frame.columns], axis=1), columns)
        check_in_range(numeric, columns, allow_missing=self.impute != "none")

    def _fit_scaler(
        self, numeric: np.ndarray, group: Group, sampled: np.ndarray | None
    ) -> tuple[list[float], list[float]]:
        width = numeric.shape[1]
        if self.scaler == "none" or width == 0:
            return [0.0] * width, [1.0] * width
        if self.scaler == "standard":
            # Mean, then the spread around it: two float64 sums over all rows (as StandardScaler).
            count = group.sum([len(numeric)])[0]
            offset = group.sum(numeric.sum(axis=0)) / count
            squares = np.zeros(numeric.shape[1])
            for start in range(0, len(numeric), _BLOCK_ROWS):  # in blocks: no temporary as large as the table
                squares += ((numeric[start : start + _BLOCK_ROWS] - offset) ** 2).sum(axis=0)
            scale = np.sqrt(group.sum(squares) / count)
        elif self.scaler == "robust":
            fitted = RobustScaler().fit(group.gather(numeric[sampled]))
            offset, scale = fitted.center_, fitted.scale_
        else:  # minmax: x * s + m == (x - (-m / s)) / (1 / s)
            low = np.min(numeric, axis=0, initial=np.inf)
            high = np.max(numeric, axis=0, initial=-np.inf)
            offset, scale = group.min(low), group.max(high) - group.min(low)
        scale = np.where(scale > 1e-12, scale, 1.0)  # constant columns: no division by (almost) zero
        return np.asarray(offset, dtype=float).tolist(), np.asarray(scale, dtype=float).tolist()

    # -- transforming --------------------------------------------------------------------------
    def _numeric(self, frame: pd.DataFrame, columns: Sequence[str] | None = None) -> np.ndarray:
        """The numeric ``columns`` of ``frame`` as one float64 matrix (missing values as NaN)."""
        columns = self.numeric_columns_ if columns is None else columns
        if not columns:
            return np.empty((len(frame), 0), dtype=np.float64)
        # The frame itself when it holds just these columns in order: no per-request copy to select them.
        selected = frame if frame.columns.tolist() == list(columns) else frame[columns]
        # One check per distinct dtype, not one Series per column (a 1-row request has 32 columns, 1 dtype).
        dtypes = selected.dtypes.tolist()
        numeric = {dtype: _is_numeric(dtype) for dtype in set(dtypes)}
        if not all(numeric.values()):
            column = next(c for c, dtype in zip(columns, dtypes, strict=True) if not numeric[dtype])
            raise not_numeric_error(column, frame[column])
        return selected.to_numpy(dtype=np.float64, na_value=np.nan)

    def _fill(self, numeric: np.ndarray) -> np.ndarray:
        holes = ~np.isfinite(numeric)
        if holes.any():
            numeric = numeric.copy()
            numeric[holes] = np.take(np.asarray(self.fill_values_), np.nonzero(holes)[1])
        return numeric

    def check_columns(self, frame: pd.DataFrame) -> None:
        """Raise ``ValueError`` when ``frame`` lacks columns seen during fit."""
        missing = [c for c in self.columns_ if c not in frame.columns]
        if missing:
            raise ValueError(
                f"The data lacks {len(missing)} column(s) the model was trained on: {name_list(missing)}; "
                "score data with the training columns."
            )

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """Return a float32 matrix with ``len(feature_names_out_)`` columns."""
        self.check_columns(frame)
        scaled = self._scaled(self._numeric(frame))
        if not self.categorical_features:
            return scaled
        parts = [scaled]
        for column in self.categorical_features:
            categories = self.categories_[column]
            # get_indexer gives -1 for categories unseen in fit (pd.Categorical is deprecating that).
            codes = pd.Index(categories).get_indexer(frame[column].astype(str))
            one_hot = np.zeros((len(frame), len(categories)), dtype=np.float32)
            known = codes >= 0
            one_hot[np.nonzero(known)[0], codes[known]] = 1.0
            parts.append(one_hot)
        return np.ascontiguousarray(np.concatenate(parts, axis=1), dtype=np.float32)

    def transform_numeric(self, numeric: np.ndarray) -> np.ndarray:
        """:meth:`transform` of a table given as one float64 matrix of its columns, in training order.

        For a preprocessor without categorical features: the same float32 matrix as ``transform`` of
        the DataFrame holding these values, without building one (the service's 1-row requests).
        """
        if self.categorical_features:
            raise ValueError("transform_numeric takes numeric columns only; this table has categorical features.")
        numeric = np.asarray(numeric, dtype=np.float64)
        if numeric.ndim != 2 or numeric.shape[1] != len(self.numeric_columns_):
            raise ValueError(
                f"Expected a matrix of {len(self.numeric_columns_)} numeric columns; got shape {numeric.shape}."
            )
        return self._scaled(numeric)

    def _scaled(self, numeric: np.ndarray) -> np.ndarray:
        """The numeric columns filled (with imputation), scaled and checked, as float32."""
        if self.fill_values_ is not None:
            numeric = self._fill(numeric)
        offset, scale = np.asarray(self.offset_), np.asarray(self.scale_)
        scaled = np.empty(numeric.shape, dtype=np.float32)
        for start in range(0, len(numeric), _BLOCK_ROWS):  # in blocks: the float64 temporary stays in cache
            block = numeric[start : start + _BLOCK_ROWS] - offset
            block /= scale
            # One pass checks everything the model cannot take: NaN and inf fail "<=" too.
            if not (np.abs(block) <= SCALED_LIMIT).all():
                self._refuse(numeric, start + _BLOCK_ROWS)
            scaled[start : start + _BLOCK_ROWS] = block
        return scaled

    def _refuse(self, numeric: np.ndarray, stop: int) -> None:
        """Raise for the first cell of ``numeric[:stop]`` that is missing, beyond float32 or too far out."""
        check_in_range(numeric[:stop], self.numeric_columns_)
        offset, scale = np.asarray(self.offset_), np.asarray(self.scale_)
        with np.errstate(all="ignore"):
            rows, cols = np.nonzero(~(np.abs((numeric[:stop] - offset) / scale) <= SCALED_LIMIT))
        row, col = int(rows[0]), int(cols[0])
        low, high = offset[col] - SCALED_LIMIT * scale[col], offset[col] + SCALED_LIMIT * scale[col]
        raise InvalidValueError(
            f"Column {self.numeric_columns_[col]!r} holds {numeric[row, col]:g}{{where}}, too far out for the model "
            f"to score (it takes {low:.3g} to {high:.3g}: {SCALED_LIMIT:.0e} training spreads around the training "
            "centre); fix the value or clip it to that range.",
            row,
        )

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
