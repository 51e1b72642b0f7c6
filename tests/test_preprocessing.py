"""TablePreprocessor: table -> float32 matrix, fitted on normal rows, JSON-serialisable state."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.preprocessing import MinMaxScaler, RobustScaler, StandardScaler

from aedetect.preprocessing.tables import TablePreprocessor
from aedetect.preprocessing.values import as_frame


@pytest.fixture
def mixed() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "size": [1.0, 2.0, 3.0, 4.0, 10.0],
            "count": [1, 0, 3, 2, 4],
            "colour": ["red", "blue", "red", "green", "blue"],
            "flag": [True, False, True, True, False],
        }
    )


@pytest.mark.parametrize(
    ("scaler", "reference"),
    [("standard", StandardScaler), ("robust", RobustScaler), ("minmax", MinMaxScaler)],
)
def test_numeric_columns_are_scaled_like_scikit_learn(mixed, scaler, reference):
    numeric = mixed[["size", "count"]]
    matrix = TablePreprocessor(scaler=scaler).fit(numeric).transform(numeric)
    assert matrix.dtype == np.float32 and matrix.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(matrix, reference().fit_transform(numeric.to_numpy(float)), rtol=1e-6, atol=1e-6)


def test_no_scaling_keeps_values(mixed):
    numeric = mixed[["size", "count"]]
    np.testing.assert_array_equal(TablePreprocessor(scaler="none").fit(numeric).transform(numeric), numeric)


def test_one_hot_categoricals_and_unseen_categories_encode_as_zeros(mixed):
    prep = TablePreprocessor(categorical_features=["colour"], scaler="none").fit(mixed)
    assert prep.feature_names_out_ == ["size", "count", "flag", "colour=blue", "colour=green", "colour=red"]
    matrix = prep.transform(mixed)
    np.testing.assert_array_equal(matrix[:, 3:], [[0, 0, 1], [1, 0, 0], [0, 0, 1], [0, 1, 0], [1, 0, 0]])
    np.testing.assert_array_equal(matrix[:, 2], [1, 0, 1, 1, 0])  # booleans are numeric 0/1
    unseen = mixed.assign(colour=["purple", "red", None, "blue", "orange"])
    one_hot = prep.transform(unseen)[:, 3:]
    np.testing.assert_array_equal(one_hot, [[0, 0, 0], [0, 0, 1], [0, 0, 0], [1, 0, 0], [0, 0, 0]])


def test_numeric_categorical_column_is_one_hot_encoded():
    frame = pd.DataFrame({"x": [0.5, 1.5, 2.5], "port": [80, 443, 80]})
    prep = TablePreprocessor(categorical_features=["port"]).fit(frame)
    assert prep.feature_names_out_ == ["x", "port=443", "port=80"]
    np.testing.assert_array_equal(prep.transform(frame)[:, 1:], [[0, 1], [1, 0], [0, 1]])


@pytest.mark.parametrize("scaler", ["standard", "robust", "minmax"])
def test_constant_column_does_not_divide_by_zero(scaler):
    train = pd.DataFrame({"constant": [5.0] * 6, "x": np.arange(6.0)})
    prep = TablePreprocessor(scaler=scaler).fit(train)
    assert prep.scale_[0] == 1.0
    matrix = prep.transform(pd.DataFrame({"constant": [5.0, 7.0], "x": [1.0, 2.0]}))
    assert np.isfinite(matrix).all()
    assert matrix[1, 0] - matrix[0, 0] == pytest.approx(2.0)  # a change in a constant column still shows


@pytest.mark.parametrize(("bad", "kind"), [(np.nan, "NaN"), (np.inf, "infinite"), (-np.inf, "infinite")])
def test_nan_and_inf_are_rejected_naming_the_column_and_the_impute_option(mixed, bad, kind):
    dirty = mixed[["size", "count"]].astype(float)
    dirty.loc[3, "count"] = bad
    with pytest.raises(ValueError) as caught:
        TablePreprocessor().fit(dirty)
    message = str(caught.value)
    assert "'count'" in message and f"first: {kind} in data row 4" in message and "impute='median'" in message
    prep = TablePreprocessor().fit(mixed[["size", "count"]])
    with pytest.raises(ValueError, match="'count' has 1 NaN or infinite value"):
        prep.transform(dirty)


@pytest.mark.parametrize(("impute", "fill"), [("median", 2.5), ("mean", 2.5)])
def test_imputation_fills_holes_with_the_training_statistic(impute, fill):
    train = pd.DataFrame({"x": [1.0, 2.0, np.nan, 3.0, 4.0, np.inf]})
    prep = TablePreprocessor(scaler="none", impute=impute).fit(train)
    assert prep.fill_values_ == [pytest.approx(fill)]  # infinite values do not enter the statistic
    out = prep.transform(pd.DataFrame({"x": [np.nan, -np.inf, 7.0]}))
    np.testing.assert_allclose(out[:, 0], [fill, fill, 7.0])


@pytest.mark.filterwarnings("ignore:All-NaN slice encountered")
def test_imputed_column_that_is_entirely_missing_fills_with_zero():
    prep = TablePreprocessor(impute="median").fit(pd.DataFrame({"x": [1.0, 2.0], "y": [np.nan, np.nan]}))
    assert prep.fill_values_[1] == 0.0
    assert np.isfinite(prep.transform(pd.DataFrame({"x": [1.0], "y": [np.nan]}))).all()


def test_text_column_not_declared_categorical_is_a_clear_error(mixed):
    with pytest.raises(
        ValueError, match=r"Column 'colour' is not numeric \('red' in data row 1\); declare it categorical"
    ):
        TablePreprocessor().fit(mixed)


def test_missing_columns_are_reported(mixed):
    prep = TablePreprocessor(categorical_features=["colour"]).fit(mixed)
    with pytest.raises(ValueError, match=r"lacks 1 column\(s\) the model was trained on: \['count'\]"):
        prep.transform(mixed.drop(columns=["count"]))
    with pytest.raises(ValueError, match=r"Categorical column\(s\) \['shape'\] are not in the data"):
        TablePreprocessor(categorical_features=["shape"]).fit(mixed)


def test_fit_rejects_empty_tables_and_no_features(mixed):
    with pytest.raises(ValueError, match="no rows"):
        TablePreprocessor().fit(mixed.iloc[:0])
    with pytest.raises(ValueError, match="No features left"):
        TablePreprocessor().fit(pd.DataFrame(index=range(3)))


def test_unknown_scaler_or_impute():
    with pytest.raises(ValueError, match="Unknown scaler 'zscore'"):
        TablePreprocessor(scaler="zscore")
    with pytest.raises(ValueError, match="Unknown impute 'zero'"):
        TablePreprocessor(impute="zero")


def test_state_survives_a_json_round_trip(mixed):
    prep = TablePreprocessor(categorical_features=["colour"], scaler="robust", impute="median").fit(mixed)
    state = json.loads(json.dumps(prep.get_state()))
    restored = TablePreprocessor.from_state(state)
    probe = mixed.assign(colour=["red", "black", "blue", "green", "red"])
    probe.loc[1, "size"] = np.nan
    np.testing.assert_array_equal(restored.transform(probe), prep.transform(probe))
    assert restored.feature_names_out_ == prep.feature_names_out_


def test_inconsistent_state_is_rejected(mixed):
    state = TablePreprocessor().fit(mixed[["size", "count"]]).get_state()
    state["scale"] = state["scale"][:1]
    with pytest.raises(ValueError, match="inconsistent"):
        TablePreprocessor.from_state(state)


def test_as_frame():
    frame = as_frame(np.zeros((2, 3)))
    assert list(frame.columns) == ["x0", "x1", "x2"]
    assert list(as_frame([[1, 2]], ["p", "q"]).columns) == ["p", "q"]
    original = pd.DataFrame({"a": [1]})
    assert as_frame(original) is original
    with pytest.raises(ValueError, match="1-D array of 3 values"):
        as_frame(np.zeros(3))
    with pytest.raises(ValueError, match=r"shape \(2, 2, 2\)"):
        as_frame(np.zeros((2, 2, 2)))


def test_tables_longer_than_one_scaling_block_scale_every_row_alike():
    rows = np.random.default_rng(5).normal(3.0, 2.0, size=(20_001, 3)).astype(np.float32)  # 3 blocks of 8,192
    frame = pd.DataFrame(rows, columns=["a", "b", "c"])
    prep = TablePreprocessor().fit(frame)
    expected = ((rows.astype(np.float64) - np.asarray(prep.offset_)) / np.asarray(prep.scale_)).astype(np.float32)
    np.testing.assert_array_equal(prep.transform(frame), expected)


def _bits(matrix: np.ndarray) -> np.ndarray:
    """The float32 matrix's bit patterns: equal bits, not merely equal values (0.0 and -0.0 differ)."""
    return np.ascontiguousarray(matrix, dtype=np.float32).view(np.uint32)


@pytest.mark.parametrize("impute", ["none", "median", "mean"])
@pytest.mark.parametrize("scaler", ["standard", "robust", "minmax", "none"])
def test_a_numeric_matrix_transforms_bit_for_bit_as_the_same_table(impute, scaler):
    rng = np.random.default_rng(11)
    columns = ["a", "b", "c", "d"]
    train = pd.DataFrame(rng.normal(size=(200, 4)) * [1.0, 1e3, 1e-3, 7.0] + [0.0, 5.0, -2.0, 1e4], columns=columns)
    prep = TablePreprocessor(scaler=scaler, impute=impute).fit(train)
    rows = rng.normal(size=(40, 4)) * [1.0, 1e3, 1e-3, 7.0]
    rows[0] = -0.0
    if impute != "none":  # holes go through the same filling
        rows[3, 1], rows[5, 2] = np.nan, np.inf
    expected = prep.transform(pd.DataFrame(rows, columns=columns))
    np.testing.assert_array_equal(_bits(prep.transform_numeric(rows)), _bits(expected))
    integers = np.arange(160).reshape(40, 4)  # integers and booleans: as a DataFrame of them reads them
    np.testing.assert_array_equal(
        _bits(prep.transform_numeric(integers.astype(np.float64))),
        _bits(prep.transform(pd.DataFrame(integers, columns=columns))),
    )


def test_a_numeric_matrix_is_refused_with_the_same_message_as_the_table(mixed):
    prep = TablePreprocessor().fit(mixed[["size", "count"]])
    rows = np.array([[1.0, 2.0], [np.nan, 1.0]])
    with pytest.raises(ValueError) as from_table:
        prep.transform(pd.DataFrame(rows, columns=["size", "count"]))
    with pytest.raises(ValueError) as from_matrix:
        prep.transform_numeric(rows)
    assert str(from_matrix.value) == str(from_table.value) and "data row 2" in str(from_table.value)
    with pytest.raises(ValueError, match=r"2 numeric columns; got shape \(2, 3\)"):
        prep.transform_numeric(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="categorical"):
        TablePreprocessor(categorical_features=["colour"]).fit(mixed[["size", "colour"]]).transform_numeric(rows)


def test_a_non_numeric_column_is_named_whatever_the_other_columns_hold(mixed):
    prep = TablePreprocessor(categorical_features=["colour"]).fit(mixed)
    frame = mixed.assign(count=mixed["count"].astype(str), size=mixed["size"].astype("float32"))
    with pytest.raises(ValueError, match=r"Column 'count' is not numeric \('1' in data row 1\)"):
        prep.transform(frame)


@pytest.mark.parametrize(
    "as_given",
    [
        lambda frame: frame.to_numpy(),
        lambda frame: frame.to_numpy(dtype=np.float32),
        lambda frame: np.rint(frame.to_numpy()).astype(np.int64),
        lambda frame: frame.to_numpy() > 0,
    ],
    ids=["float64", "float32", "int64", "bool"],
)
def test_a_detector_scores_a_matrix_of_numbers_bit_for_bit_as_the_same_table(fitted, fresh_normals, as_given):
    matrix = as_given(fresh_normals.iloc[:37])
    table = pd.DataFrame(matrix, columns=fresh_normals.columns)
    np.testing.assert_array_equal(
        fitted.decision_function(matrix).view(np.uint64), fitted.decision_function(table).view(np.uint64)
    )


def test_a_matrix_for_a_model_with_categorical_features_goes_through_a_table(normal_frame):
    from conftest import FAST

    from aedetect import AutoencoderDetector

    # A numeric categorical column: the matrix is all numbers, but its codes must be one-hot encoded.
    frame = normal_frame.assign(kind=np.where(normal_frame["a"] > 0, 1.0, 2.0))
    detector = AutoencoderDetector(**{**FAST, "epochs": 2}, categorical_features=["kind"]).fit(frame)
    probe = frame.iloc[:9].copy()
    probe.loc[probe.index[2], "kind"] = 7.0  # unseen in fit: all zeros
    np.testing.assert_array_equal(
        detector.decision_function(probe.to_numpy()).view(np.uint64),
        detector.decision_function(probe).view(np.uint64),
    )
