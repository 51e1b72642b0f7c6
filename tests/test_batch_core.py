"""The row-scoring core: one set of column checks, flags, explanations and pass-through columns for
every path (files, streams, the command line, the service, the report)."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from conftest import FAST, normal_rows, outlier_rows

from aedetect import AutoencoderDetector
from aedetect.batch.core import RowScoringCore
from aedetect.batch.files import score_file
from aedetect.batch.streams import score_stream


@pytest.fixture(scope="module")
def detector(normal_frame):
    return AutoencoderDetector(**FAST).fit(normal_frame)


@pytest.fixture(scope="module")
def rows() -> pd.DataFrame:
    frame = pd.concat([normal_rows(40, seed=5), outlier_rows(6)], ignore_index=True)
    return frame.assign(key=[f"k{i}" for i in range(len(frame))])


# -- flags, checks, output ---------------------------------------------------------------------------
def test_flags_follow_the_detectors_rule_or_an_override(detector, rows):
    scores = detector.decision_function(rows[list("abcd")])
    assert np.array_equal(
        RowScoringCore(detector).score(rows.drop(columns="key")).flags, detector.predict(rows[list("abcd")])
    )
    fixed = RowScoringCore(detector, drop=["key"], threshold=1.5)
    assert fixed.threshold == 1.5 and np.array_equal(fixed.score(rows).flags, (scores > 1.5).astype(int))
    text = RowScoringCore(detector, drop=["key"], threshold="percentile:50")
    assert text.threshold == np.percentile(detector.calibration_scores_, 50)
    assert np.array_equal(text.score(rows).scores, scores)
    with pytest.raises(ValueError, match="'best_f1' threshold needs labels"):
        RowScoringCore(detector, threshold="best_f1")


def test_columns_are_checked_once_with_the_users_words(detector, rows):
    with pytest.raises(
        ValueError, match=r"has column\(s\) the model did not train on \['key'\] \(leave them out with --drop\)"
    ):
        RowScoringCore(detector).score(rows)
    with pytest.raises(ValueError, match=r"lacks training column\(s\) \['d'\]; the model expects 4 columns"):
        RowScoringCore(detector, drop=["key"]).score(rows.drop(columns="d"))
    with pytest.raises(
        ValueError, match=r"Id column 'id' is not in the data; columns are \['a', 'b', 'c', 'd', 'key'\]"
    ):
        RowScoringCore(detector, id_column="id", drop=["key"]).score(rows)
    with pytest.raises(ValueError, match="duplicated column names"):
        RowScoringCore(detector).check_columns(["a", "b", "c", "d", "a"])


def test_output_passes_the_id_or_every_column_for_pandas_and_pyarrow(detector, rows):
    core = RowScoringCore(detector, id_column="key", only_anomalies=True)
    scored = core.score(rows)
    assert 0 < scored.flagged < len(rows)
    frame = core.output(rows, scored)
    table = core.output(pa.Table.from_pandas(rows, preserve_index=False), core.score(pa.Table.from_pandas(rows)))
    assert list(frame.columns) == table.schema.names == ["key", "score", "is_anomaly"]
    assert frame["key"].tolist() == table.column("key").to_pylist() == rows["key"][scored.flags == 1].tolist()
    everything = RowScoringCore(detector, drop=["key"]).output(rows, scored)
    assert list(everything.columns) == [*rows.columns, "score", "is_anomaly"] and len(everything) == len(rows)


# -- one CSV parser for files and streams ------------------------------------------------------------
def test_a_csv_stream_reads_numbers_by_the_rules_of_a_csv_file(normal_frame, rows, tmp_path):
    """'NA' is a missing value to impute in a file; a stream used to refuse it as text."""
    imputing = AutoencoderDetector(**FAST, impute="median").fit(normal_frame)
    text = rows.to_csv(index=False).replace("\n" + rows["a"].astype(str)[3] + ",", "\nNA,", 1)
    assert "\nNA," in text
    (tmp_path / "in.csv").write_text(text)
    score_file(imputing, tmp_path / "in.csv", tmp_path / "out.csv", drop=["key"])
    sink = io.StringIO()
    score_stream(imputing, io.StringIO(text), sink, drop=["key"])
    streamed = pd.read_csv(io.StringIO(sink.getvalue()), keep_default_na=False)
    np.testing.assert_allclose(streamed["score"], pd.read_csv(tmp_path / "out.csv")["score"], rtol=1e-12)


def test_a_csv_stream_names_a_text_cell_as_a_file_does(detector, rows):
    text = rows.drop(columns="key").astype({"c": object})
    text.loc[2, "c"] = "oops"
    with pytest.raises(ValueError, match=r"line 4: Column 'c' is not numeric \('oops'\); declare it categorical"):
        score_stream(detector, io.StringIO(text.to_csv(index=False)), io.StringIO())


def test_json_records_without_the_id_get_a_null_id(detector, rows):
    records = rows.drop(columns="key").to_dict(orient="records")
    sink = io.StringIO()
    score_stream(detector, io.StringIO("".join(json.dumps(r) + "\n" for r in records)), sink, id_column="key")
    assert {json.loads(line)["key"] for line in sink.getvalue().splitlines()} == {None}


# -- explanations: one rule for the service and the report -------------------------------------------
@pytest.mark.parametrize("score", ["standardized", "reconstruction"])
def test_contributions_are_errors_over_their_normal_level_unless_the_score_is_reconstruction(normal_frame, score):
    from aedetect.report.data import ReportData

    fitted = AutoencoderDetector(**FAST, score=score).fit(normal_frame)
    frame = outlier_rows(6)
    errors, contributions = fitted.feature_contributions(frame)
    np.testing.assert_array_equal(errors, fitted.feature_errors(frame).to_numpy(dtype=np.float64))
    expected = errors if score == "reconstruction" else errors / fitted.feature_error_means_
    np.testing.assert_array_equal(contributions, expected)
    shown, unit = ReportData(fitted, frame).feature_errors
    np.testing.assert_array_equal(shown.to_numpy(), expected)
    assert ("relative to normal rows" in unit) == (score != "reconstruction")
    explained = RowScoringCore(fitted).explain(frame, np.array([0, 3]), top=2)
    assert [[c.feature for c in row] for row in explained] == [
        [fitted.feature_names_out_[j] for j in np.argsort(-expected[i], kind="stable")[:2]] for i in (0, 3)
    ]


@pytest.mark.filterwarnings("ignore:Using `httpx` with `starlette.testclient`")
def test_the_service_and_the_report_flag_by_the_same_rule_as_files(detector, rows, tmp_path):
    from fastapi.testclient import TestClient

    from aedetect.report.data import ReportData
    from aedetect.serve.app import ServedModel, create_app

    features = rows[list("abcd")]
    rows.to_csv(tmp_path / "in.csv", index=False)
    score_file(detector, tmp_path / "in.csv", tmp_path / "out.csv", drop=["key"])
    flags = pd.read_csv(tmp_path / "out.csv")["is_anomaly"].to_numpy()
    with TestClient(create_app({"main": ServedModel("main", detector)})) as http:
        answer = http.post("/score", json={"records": features.to_dict(orient="records")}).json()
    report = ReportData(detector, features)
    assert answer["is_anomaly"] == flags.tolist() == report.scored.flags.tolist()
    assert answer["threshold"] == report.threshold == detector.threshold_
    assert [e["row"] for e in answer["explanations"]] == np.flatnonzero(flags).tolist()


# -- a row's score does not depend on the batch, chunk or partition it is scored in (bit for bit) -----
@pytest.fixture(scope="module")
def many_rows() -> np.ndarray:
    return pd.concat([normal_rows(2400, seed=3), outlier_rows(100)], ignore_index=True).to_numpy()


def _partitions(score, X: np.ndarray) -> dict[str, np.ndarray]:
    cuts = np.sort(np.random.default_rng(0).choice(np.arange(1, len(X)), 6, replace=False))  # 7 ragged chunks
    return {
        "whole": score(X),
        "7 ragged chunks": np.concatenate([score(part) for part in np.split(X, cuts)]),
        "one at a time": np.concatenate([score(X[i : i + 1]) for i in range(len(X))]),
    }


def test_table_scores_are_the_same_bit_for_bit_in_any_partition(detector, many_rows):
    scores = _partitions(detector.decision_function, many_rows)
    for name, partitioned in scores.items():
        assert np.array_equal(partitioned, scores["whole"]), name
    errors = _partitions(lambda X: detector.feature_errors(X).to_numpy(), many_rows[:300])
    assert all(np.array_equal(e, errors["whole"]) for e in errors.values())


def test_image_scores_are_the_same_bit_for_bit_in_any_partition():
    rng = np.random.default_rng(0)
    images = AutoencoderDetector(**{**FAST, "epochs": 2, "hidden_dims": [4]}).fit(rng.random((96, 16, 16)))
    scores = _partitions(images.decision_function, rng.random((90, 16, 16)).astype(np.float32))
    for name, partitioned in scores.items():
        assert np.array_equal(partitioned, scores["whole"]), name


def test_file_chunks_and_stream_batches_do_not_change_a_score(detector, many_rows, tmp_path):
    frame = pd.DataFrame(many_rows[-300:], columns=list("abcd"))
    frame.to_parquet(tmp_path / "in.parquet")
    written = []
    for chunk_rows in (1, 7, 1000):
        score_file(detector, tmp_path / "in.parquet", tmp_path / f"out{chunk_rows}.parquet", chunk_rows=chunk_rows)
        written.append(pd.read_parquet(tmp_path / f"out{chunk_rows}.parquet"))
    assert all(out.equals(written[0]) for out in written)
    assert np.array_equal(written[0]["score"], detector.decision_function(frame))
    streamed = []
    for batch_size in (1, 64):
        sink = io.StringIO()
        score_stream(detector, io.StringIO(frame.to_csv(index=False)), sink, batch_size=batch_size)
        streamed.append(sink.getvalue())
    assert streamed[0] == streamed[1]
    assert np.array_equal(pd.read_csv(io.StringIO(streamed[0]))["score"], written[0]["score"])
