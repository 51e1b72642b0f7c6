"""Input data the detector cannot take is refused with one line naming the cell and the fix, on every path.

Values beyond float32 or too far out to score, NaN, text in a numeric column, duplicated column names,
one training row, images of mixed sizes, decompression bombs; and what the ONNX graph, which cannot
raise, does instead. Rows are named as "data row N", counted from 1 in the user's order.
"""

from __future__ import annotations

import io
import json
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import FAST, normal_rows

from aedetect import AutoencoderDetector
from aedetect.batch.files import score_file
from aedetect.batch.streams import score_stream
from aedetect.data.images import read_image_folder
from aedetect.data.inputs import read_images
from aedetect.data.io import read_table
from aedetect.preprocessing.tables import SCALED_LIMIT, InvalidValueError


@pytest.fixture(scope="module")
def detector() -> AutoencoderDetector:
    return AutoencoderDetector(**FAST).fit(normal_rows(200))


def _with(value, row: int = 2, column: str = "b", n: int = 10) -> pd.DataFrame:
    frame = normal_rows(n, seed=3)
    frame.loc[row, column] = value
    return frame


# -- values beyond float32, too far out, NaN -------------------------------------------------------
@pytest.mark.parametrize("method", ["decision_function", "predict", "score_samples", "feature_errors"])
@pytest.mark.parametrize("as_array", [False, True])
def test_a_value_beyond_float32_is_refused_naming_the_column_and_data_row(detector, method, as_array):
    X = _with(1e39)
    with pytest.raises(
        ValueError,
        match=r"Column 'b' holds 1e\+39 in data row 3, beyond the float32 range.*"
        r"fix the value or rescale the column",
    ):
        getattr(detector, method)(X.to_numpy() if as_array else X)


@pytest.mark.parametrize("value", [1e20, -1e15, 3e38])
def test_a_value_too_far_out_to_score_is_refused_with_the_range_the_model_takes(detector, value):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warnings on the way
        with pytest.raises(
            InvalidValueError,
            match=r"Column 'b' holds .* in data row 3, too far out for the model "
            r"to score \(it takes .* to .*\); fix the value or clip it",
        ):
            detector.decision_function(_with(value))


def test_values_inside_the_limit_score_finite(detector):
    scale, offset = detector.preprocessor_.scale_[1], detector.preprocessor_.offset_[1]
    scores = detector.decision_function(_with(offset + 0.5 * SCALED_LIMIT * scale))
    assert np.isfinite(scores).all() and detector.predict(_with(offset + 0.5 * SCALED_LIMIT * scale))[2] == 1


def test_a_score_that_overflows_anyway_is_refused_not_returned_as_nan(detector, monkeypatch):
    import aedetect.detector as module

    def overflowing(scorer, matrix, device):
        scores = np.ones(len(matrix))
        scores[4] = np.nan
        return scores

    monkeypatch.setattr(module, "score_matrix", overflowing)
    with pytest.raises(ValueError, match=r"The score in data row 5 is not finite: the network overflowed"):
        detector.decision_function(normal_rows(6))
    with pytest.raises(ValueError, match="not finite"):
        detector.predict(normal_rows(6))


def test_training_on_1e308_is_refused_as_beyond_float32_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match=r"Column 'b' holds 1e\+308 in data row 3, beyond the float32 range"):
            AutoencoderDetector(**FAST).fit(_with(1e308, n=60))


def test_training_on_a_value_beyond_float32_is_refused():
    with pytest.raises(ValueError, match=r"Column 'b' holds 1e\+39 in data row 3, beyond the float32 range"):
        AutoencoderDetector(**FAST).fit(_with(1e39, n=60))


def test_imputation_fills_nan_but_never_a_value_beyond_float32():
    with pytest.raises(ValueError, match=r"1e\+39 in data row 3, beyond the float32 range"):
        AutoencoderDetector(**{**FAST, "impute": "median"}).fit(_with(1e39, n=60))
    fitted = AutoencoderDetector(**{**FAST, "epochs": 2, "impute": "median"}).fit(_with(np.nan, n=60))
    assert np.isfinite(fitted.decision_function(_with(np.inf))).all()


@pytest.mark.parametrize("labelled", [False, True])
def test_a_nan_names_the_row_of_the_users_data_not_the_shuffled_one(labelled):
    frame = _with(np.nan, row=2, n=60)
    labels = np.r_[[1, 0], np.zeros(58, dtype=int)] if labelled else None  # anomalies count as rows too
    with pytest.raises(ValueError, match=r"Column 'b' has 1 NaN or infinite value\(s\) \(first: NaN in data row 3\)"):
        AutoencoderDetector(**FAST).fit(frame, labels)


def test_a_text_cell_names_the_bad_value_and_its_row_not_the_first_value():
    frame = normal_rows(40).astype({"b": object})
    frame.loc[2, "b"] = "oops"
    with pytest.raises(ValueError, match=r"Column 'b' is not numeric \('oops' in data row 3\); declare it categorical"):
        AutoencoderDetector(**FAST).fit(frame.astype({"b": str}))


def test_images_with_nan_name_the_sample_index_in_the_users_order():
    images = np.random.default_rng(0).random((40, 8, 8))
    images[7, 3, 3] = np.nan
    with pytest.raises(ValueError, match=r"The image data has 1 NaN or infinite value\(s\) \(first in sample 7\)"):
        AutoencoderDetector(**FAST).fit(images)
    images[7, 3, 3] = 1e39
    with pytest.raises(ValueError, match=r"holds 1e\+39 in sample 7, beyond the float32 range"):
        AutoencoderDetector(**FAST).fit(images)


# -- file, stream and service scoring ----------------------------------------------------------------
def test_file_scoring_names_the_row_of_the_whole_file_and_writes_nothing(detector, tmp_path):
    frame = normal_rows(300, seed=4)
    frame.loc[250, "c"] = 1e39
    frame.to_parquet(tmp_path / "in.parquet")
    with pytest.raises(ValueError, match=r"Column 'c' holds 1e\+39 in data row 251"):
        score_file(detector, tmp_path / "in.parquet", tmp_path / "out.csv", chunk_rows=100)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet"]


def test_stream_refuses_a_record_beyond_float32_and_writes_no_nan(detector):
    records = [{"a": 0.1, "b": 0.2, "c": 0.3, "d": 0.4}, {"a": 0.1, "b": 1e39, "c": 0.3, "d": 0.4}]
    source = io.StringIO("".join(json.dumps(r) + "\n" for r in records))
    sink = io.StringIO()
    with pytest.raises(ValueError, match=r"line 2: Column 'b' holds 1e\+39, beyond the float32 range.*--skip-invalid"):
        score_stream(detector, source, sink)
    assert "NaN" not in sink.getvalue() and len(sink.getvalue().splitlines()) == 1


def test_stream_skip_invalid_reports_and_skips_out_of_range_records(detector):
    records = [
        {"a": 0.1, "b": 0.2, "c": 0.3, "d": 0.4},
        {"a": 1e39, "b": 0.2, "c": 0.3, "d": 0.4},
        {"a": 0.1, "b": -1e20, "c": 0.3, "d": 0.4},
        {"a": 0.0, "b": 0.0, "c": 0.0, "d": 0.0},
    ]
    source = io.StringIO("".join(json.dumps(r) + "\n" for r in records))
    sink, warned = io.StringIO(), []
    summary = score_stream(detector, source, sink, skip_invalid=True, warn=warned.append)
    lines = [
        json.loads(line, parse_constant=lambda c: pytest.fail(f"{c} in the output"))
        for line in sink.getvalue().splitlines()
    ]
    assert summary.rows == 2 and len(lines) == 2 and all(np.isfinite(line["score"]) for line in lines)
    assert warned[0].startswith("skipped line 2: Column 'a' holds 1e+39") and "data row" not in warned[0]
    assert warned[1].startswith("skipped line 3: Column 'b' holds -1e+20") and "too far out" in warned[1]


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_the_service_answers_a_value_beyond_float32_with_a_4xx(detector):
    from fastapi.testclient import TestClient

    from aedetect.serve.app import ServedModel, create_app

    with TestClient(create_app({"main": ServedModel("main", detector)})) as client:
        response = client.post("/score", json={"records": [{"a": 0.1, "b": 1e39, "c": 0.0, "d": 0.0}]})
        assert 400 <= response.status_code < 500, response.text
        assert "1e+39" in response.json()["detail"] and "float32" in response.json()["detail"]
        response = client.post("/score", json={"columns": {"a": [0.1], "b": [1e20], "c": [0.0], "d": [0.0]}})
        assert 400 <= response.status_code < 500 and "too far out" in response.json()["detail"]
        assert client.post("/score", json={"records": [{"a": 0.1, "b": 0.2, "c": 0.0, "d": 0.0}]}).status_code == 200


# -- ONNX: a graph cannot raise ---------------------------------------------------------------------
@pytest.mark.parametrize("impute", ["none", "median"])
def test_onnx_scores_rows_the_detector_refuses_as_inf_and_flags_them(tmp_path, impute):
    import onnxruntime as ort

    from aedetect.export.onnx import export_onnx

    detector = AutoencoderDetector(**{**FAST, "epochs": 2, "impute": impute}).fit(normal_rows(100))
    session = ort.InferenceSession(str(export_onnx(detector, tmp_path / "m.onnx")), providers=["CPUExecutionProvider"])
    rows = np.array(normal_rows(6, seed=5), dtype=np.float32)
    rows[1, 0], rows[2, 1], rows[3, 2], rows[4, 3] = np.nan, np.inf, 3e38, -1e30
    score, flag = session.run(None, {"features": rows})
    expected = detector.decision_function(normal_rows(6, seed=5).iloc[[0, 5]])
    np.testing.assert_allclose(score[[0, 5]], expected, rtol=2e-5)  # valid rows score as before
    if impute == "none":  # NaN and inf are refused by the detector: inf and flagged in the graph
        assert np.isposinf(score[1:5]).all() and (flag[1:5] == 1).all()
    else:  # filled, as the detector fills them; the far-out values stay refused
        assert np.isfinite(score[1:3]).all() and np.isposinf(score[3:5]).all() and (flag[3:5] == 1).all()


# -- tables: column names, row counts ------------------------------------------------------------------
def test_a_frame_with_integer_column_names_fits_and_scores():
    values = normal_rows(60).to_numpy()
    frame = pd.DataFrame(values)  # columns 0, 1, 2, 3
    fitted = AutoencoderDetector(**{**FAST, "epochs": 2}).fit(frame)
    assert list(fitted.feature_names_in_) == ["0", "1", "2", "3"]
    scores = fitted.decision_function(frame)
    np.testing.assert_array_equal(scores, fitted.decision_scores_)
    np.testing.assert_array_equal(fitted.decision_function(values), scores)
    with pytest.raises(ValueError, match="feature names differ"):
        fitted.decision_function(pd.DataFrame(values, columns=list("abcd")))


def test_duplicated_column_names_are_refused_at_fit_and_score(detector, tmp_path):
    frame = normal_rows(40)
    frame.columns = ["a", "b", "a", "b"]
    with pytest.raises(ValueError, match=r"X has duplicated column names \['a', 'b'\]; give each column its own name"):
        AutoencoderDetector(**FAST).fit(frame)
    with pytest.raises(ValueError, match=r"duplicated column names \['a'\]"):
        detector.decision_function(normal_rows(5).assign(e=1.0).set_axis(list("abcda"), axis=1))
    (tmp_path / "dup.csv").write_text("a,b,a,d\n1,2,3,4\n5,6,7,8\n")
    with pytest.raises(ValueError, match=r"dup.csv' has duplicated column names \['a'\]"):
        read_table(tmp_path / "dup.csv")


def test_training_needs_two_normal_rows(tmp_path):
    with pytest.raises(ValueError, match=r"Training needs at least 2 normal rows; got 1\. One row has no spread"):
        AutoencoderDetector(**FAST).fit(normal_rows(1))
    with pytest.raises(ValueError, match="at least 2 normal rows; got 1"):
        AutoencoderDetector(**FAST).fit(normal_rows(5), [1, 1, 0, 1, 1])
    fitted = AutoencoderDetector(**{**FAST, "epochs": 2}).fit(normal_rows(2))
    assert np.isfinite(fitted.threshold_)


def test_missing_columns_beyond_five_say_how_many_more():
    names = [f"f{i}" for i in range(10)]
    wide = pd.DataFrame(np.random.default_rng(0).normal(size=(30, 10)), columns=names)
    fitted = AutoencoderDetector(**{**FAST, "epochs": 1}).fit(wide)
    with pytest.raises(ValueError, match=r"missing \['f3', 'f4', 'f5', 'f6', 'f7'\] and 2 more"):
        fitted.decision_function(wide[names[:3]])
    with pytest.raises(ValueError, match=r"lacks 7 column\(s\) .*\['f3', 'f4', 'f5', 'f6', 'f7'\] and 2 more"):
        fitted.preprocessor_.transform(wide[names[:3]])


def test_random_state_none_is_accepted_and_the_drawn_seed_is_recorded():
    frame = normal_rows(60)
    first = AutoencoderDetector(**{**FAST, "epochs": 2, "random_state": None}).fit(frame)
    assert first.random_state is None and isinstance(first.random_state_, int)
    again = AutoencoderDetector(**{**FAST, "epochs": 2, "random_state": first.random_state_}).fit(frame)
    np.testing.assert_array_equal(again.decision_scores_, first.decision_scores_)


def test_a_threshold_out_of_range_names_the_valid_range():
    with pytest.raises(ValueError, match=r"percentile:150.*must be a number in \(0, 100\); got 150.0"):
        AutoencoderDetector(**{**FAST, "threshold": "percentile:150"}).fit(normal_rows(30))


# -- images ---------------------------------------------------------------------------------------------
def test_a_list_of_images_of_mixed_sizes_names_two_of_the_sizes():
    rng = np.random.default_rng(0)
    images = [rng.random((8, 8)) for _ in range(5)] + [rng.random((10, 12))]
    with pytest.raises(
        ValueError,
        match=r"The images must all have the same size; got \(8, 8\) and \(10, 12\); "
        "resize them to one size first",
    ):
        AutoencoderDetector(**FAST).fit(images)
    fitted = AutoencoderDetector(**{**FAST, "epochs": 1}).fit(images[:5])
    with pytest.raises(ValueError, match="must all have the same size"):
        fitted.decision_function(images)


@pytest.mark.parametrize("pixels_over_limit", [1.5, 3.0])  # PIL warns, then raises (over twice the limit)
def test_a_decompression_bomb_is_refused_naming_the_file(tmp_path, monkeypatch, pixels_over_limit):
    from PIL import Image

    folder = tmp_path / "images"
    folder.mkdir()
    for name in ("a.png", "bomb.png"):
        Image.fromarray(np.zeros((10, 10), dtype=np.uint8)).save(folder / name)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", int(100 / pixels_over_limit))
    with pytest.raises(ValueError, match=r"a.png' is too large to read safely.*decompression bomb; remove it"):
        read_image_folder(folder)


def test_an_image_model_given_a_table_says_what_it_scores(tmp_path):
    normal_rows(5).to_csv(tmp_path / "in.csv", index=False)
    with pytest.raises(
        ValueError,
        match=r"This model scores images; '.*in.csv' is not an image source\. Give an "
        "image folder, an IDX file or a .npy/.npz array of images",
    ):
        read_images(str(tmp_path / "in.csv"))


def test_an_integer_beyond_a_float_is_refused_with_a_short_message(detector):
    frame = normal_rows(3).astype({"b": object})
    frame.loc[1, "b"] = 10**400
    with pytest.raises(
        ValueError,
        match=r"Column 'b' is not numeric \(1000000000000000000000000000000000000\.\.\. in "
        r"data row 2\)",
    ):
        detector.decision_function(frame)
