"""Chunked file scoring (flat memory, input order) and stream scoring from standard input."""

from __future__ import annotations

import io
import json
import os
import select
import subprocess
import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest
from conftest import FAST
from typer.testing import CliRunner

from aedetect import AutoencoderDetector
from aedetect.batch import files as chunked
from aedetect.batch.files import score_file
from aedetect.batch.streams import score_stream
from aedetect.cli import app


@pytest.fixture(scope="module")
def detector(normal_frame):
    return AutoencoderDetector(**FAST).fit(normal_frame)


@pytest.fixture(scope="module")
def table(fresh_normals, outliers) -> pd.DataFrame:
    """Normal rows with the outliers spread through them, an id column and a text note."""
    frame = pd.concat([fresh_normals, outliers], ignore_index=True).sample(frac=1.0, random_state=0)
    frame = frame.reset_index(drop=True)
    return frame.assign(note=[f"n{i}" for i in range(len(frame))]).rename_axis("id").reset_index()


@pytest.fixture(scope="module")
def model_dir(detector, tmp_path_factory):
    path = tmp_path_factory.mktemp("stream") / "model"
    detector.save(path)
    return path


def expected(detector, table):
    scores = detector.decision_function(table[["a", "b", "c", "d"]])
    return scores, detector.predict(table[["a", "b", "c", "d"]])


# -- files ----------------------------------------------------------------------------------------------
def test_csv_in_many_chunks_gives_the_in_memory_scores_in_order(detector, table, tmp_path):
    table.to_csv(tmp_path / "in.csv", index=False)
    summary = score_file(detector, tmp_path / "in.csv", tmp_path / "out.csv", drop=["note", "id"], block_bytes=2048)
    out = pd.read_csv(tmp_path / "out.csv")
    scores, flags = expected(detector, table)
    assert summary.rows == len(table) == len(out) and summary.flagged == flags.sum()
    assert list(out.columns) == [*table.columns, "score", "is_anomaly"]
    assert out["id"].tolist() == table["id"].tolist() and out["note"].tolist() == table["note"].tolist()
    np.testing.assert_allclose(out["score"], scores, rtol=1e-12)
    assert out["is_anomaly"].tolist() == flags.tolist()


def test_csv_in_many_segments_keeps_quoted_fields_whole_and_names_rows_from_the_file_start(
    detector, table, tmp_path, monkeypatch
):
    monkeypatch.setattr(chunked, "SEGMENT_BYTES", 300)  # a few rows per segment; cuts fall inside quotes
    quoted = table.assign(note=[f'line one, "{i}"\nline two' for i in range(len(table))])
    quoted.to_csv(tmp_path / "in.csv", index=False)
    summary = score_file(detector, tmp_path / "in.csv", tmp_path / "out.csv", drop=["note", "id"], block_bytes=2048)
    out = pd.read_csv(tmp_path / "out.csv")
    scores, _ = expected(detector, table)
    assert summary.rows == len(out) == len(table) and out["note"].tolist() == quoted["note"].tolist()
    np.testing.assert_allclose(out["score"], scores, rtol=1e-12)
    bad = quoted.astype({"c": object})
    bad.loc[len(bad) - 3, "c"] = "oops"
    bad.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match="Column 'c' is not numeric.*'oops'") as raised:
        score_file(detector, tmp_path / "bad.csv", tmp_path / "o.csv", drop=["id", "note"], block_bytes=2048)
    if "in data row" in str(raised.value):  # pyarrow names the row when it parses on one thread
        assert f"in data row {len(bad) - 3 + 1}" in str(raised.value)  # 1-based, the header not counted


def test_parquet_chunks_with_an_id_column_and_only_anomalies(detector, table, tmp_path):
    table.to_parquet(tmp_path / "in.parquet")
    summary = score_file(
        detector,
        tmp_path / "in.parquet",
        tmp_path / "out.parquet",
        id_column="id",
        drop=["note"],
        only_anomalies=True,
        chunk_rows=37,
    )
    out = pd.read_parquet(tmp_path / "out.parquet")
    scores, flags = expected(detector, table)
    assert list(out.columns) == ["id", "score", "is_anomaly"] and summary.written == len(out) == flags.sum()
    assert out["id"].tolist() == table["id"][flags == 1].tolist()  # input order kept
    np.testing.assert_allclose(out["score"], scores[flags == 1], rtol=1e-12)


def test_csv_to_parquet_keeps_column_types(detector, table, tmp_path):
    table.to_csv(tmp_path / "in.csv", index=False)
    score_file(detector, tmp_path / "in.csv", tmp_path / "out.parquet", drop=["id", "note"], block_bytes=4096)
    out = pd.read_parquet(tmp_path / "out.parquet")
    assert out["id"].dtype == np.int64 and out["a"].dtype == np.float64 and len(out) == len(table)


def test_a_bad_value_in_a_later_chunk_names_the_column_and_leaves_no_output(detector, table, tmp_path):
    bad = table.astype({"c": object})
    bad.loc[len(bad) - 3, "c"] = "oops"
    bad.to_csv(tmp_path / "in.csv", index=False)
    with pytest.raises(ValueError, match="Column 'c' is not numeric.*'oops'"):
        score_file(detector, tmp_path / "in.csv", tmp_path / "out.csv", drop=["id", "note"], block_bytes=2048)
    assert not (tmp_path / "out.csv").exists() and os.listdir(tmp_path) == ["in.csv"]


def test_nan_in_a_chunk_names_the_rows(detector, table, tmp_path):
    bad = table.copy()
    bad.loc[150, "a"] = np.nan
    bad.to_parquet(tmp_path / "in.parquet")
    with pytest.raises(ValueError, match=r"Column 'a' has 1 NaN .*\(first: NaN in data row 151\)"):
        score_file(detector, tmp_path / "in.parquet", tmp_path / "o.csv", drop=["id", "note"], chunk_rows=100)


# -- streams --------------------------------------------------------------------------------------------
def test_json_lines_stream_adds_score_and_flag_to_each_record(detector, table):
    lines = [json.dumps(r) for r in table.to_dict(orient="records")]
    sink = io.StringIO()
    summary = score_stream(detector, io.StringIO("\n".join(lines) + "\n"), sink, batch_size=16)
    out = [json.loads(line) for line in sink.getvalue().splitlines()]
    scores, flags = expected(detector, table)
    assert summary.rows == len(out) == len(table)
    assert [r["id"] for r in out] == table["id"].tolist() and out[0]["note"] == table["note"][0]
    np.testing.assert_allclose([r["score"] for r in out], scores, rtol=1e-12)
    assert [r["is_anomaly"] for r in out] == flags.tolist()


def test_csv_stream_appends_score_columns_to_each_line(detector, table):
    text = table.to_csv(index=False)
    sink = io.StringIO()
    score_stream(detector, io.StringIO(text), sink, batch_size=7, only_anomalies=True)
    out_lines = sink.getvalue().splitlines()
    assert out_lines[0] == text.splitlines()[0] + ",score,is_anomaly"
    scores, flags = expected(detector, table)
    kept = [line for line, flag in zip(text.splitlines()[1:], flags, strict=True) if flag]
    assert [line.rsplit(",", 2)[0] for line in out_lines[1:]] == kept
    assert all(line.endswith(",1") for line in out_lines[1:])


def test_stream_id_column_only(detector, table):
    sink = io.StringIO()
    score_stream(detector, io.StringIO(table.to_csv(index=False)), sink, id_column="id", drop=["note"])
    lines = sink.getvalue().splitlines()
    assert lines[0] == "id,score,is_anomaly" and lines[1].split(",")[0] == str(table["id"][0])


def test_a_bad_record_stops_the_stream_after_the_good_ones_or_is_skipped(detector):
    good = json.dumps({"a": 0.1, "b": 0.2, "c": 0.3, "d": 0.4})
    text = "\n".join([good, good, "{not json", json.dumps({"a": 1.0}), good]) + "\n"
    sink = io.StringIO()
    with pytest.raises(ValueError, match="line 3: not valid JSON"):
        score_stream(detector, io.StringIO(text), sink, batch_size=10)
    assert len(sink.getvalue().splitlines()) == 2
    warnings: list[str] = []
    sink = io.StringIO()
    summary = score_stream(detector, io.StringIO(text), sink, batch_size=10, skip_invalid=True, warn=warnings.append)
    assert summary.rows == 3 and len(sink.getvalue().splitlines()) == 3
    assert warnings[0].startswith("skipped line 3") and "lacks training column(s) ['b', 'c', 'd']" in warnings[1]


def test_a_slow_stream_is_scored_before_its_batch_fills(detector):
    """A record waits at most max_wait for its batch: the pipe stays open, the score arrives."""
    read_end, write_end = os.pipe()
    source, feed = os.fdopen(read_end, "r"), os.fdopen(write_end, "w")
    sink = io.StringIO()
    worker = threading.Thread(
        target=score_stream, args=(detector, source, sink), kwargs=dict(batch_size=1000, max_wait=0.2), daemon=True
    )
    worker.start()
    feed.write(json.dumps({"a": 9.0, "b": -9.0, "c": 9.0, "d": 9.0}) + "\n")
    feed.flush()
    deadline = time.monotonic() + 20
    while not sink.getvalue() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert json.loads(sink.getvalue())["is_anomaly"] == 1 and worker.is_alive()
    feed.close()
    worker.join(timeout=10)
    assert not worker.is_alive()


def test_cli_scores_standard_input(model_dir, detector, table):
    runner = CliRunner()
    text = "\n".join(json.dumps(r) for r in table.to_dict(orient="records")) + "\n"
    result = runner.invoke(app, ["score", str(model_dir), "-", "--only-anomalies", "--id-column", "id"], input=text)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert rows and all(set(r) == {"id", "score", "is_anomaly"} and r["is_anomaly"] == 1 for r in rows)
    # The summary on standard error: what was flagged, at which threshold, and what that threshold means.
    calibration = detector.calibration_scores_
    above = int((calibration > detector.threshold_).sum())
    assert result.stderr.strip().endswith(
        f"scored {len(table)} records: {len(rows)} flagged ({len(rows) / len(table):.2%}) at threshold "
        f"{detector.threshold_:.6g} ({100 * above / calibration.size:.3g}% of held-out normal rows lie above it "
        f"({above:,} of {calibration.size:,}))"
    ), result.stderr
    refused = runner.invoke(app, ["score", str(model_dir), "-", "-o", "x.csv"], input=text)
    assert refused.exit_code == 2 and "standard output" in refused.stderr


def test_cli_at_the_end_of_a_pipe_writes_each_anomaly_while_the_pipe_is_open(model_dir):
    command = [
        sys.executable,
        "-m",
        "aedetect.cli",
        "score",
        str(model_dir),
        "-",
        "--only-anomalies",
        "--max-wait",
        "0.2",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen(
        command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        for values in ([0.1, 0.2, 0.0, 0.1], [9.0, -9.0, 9.0, 9.0]):
            process.stdin.write(json.dumps(dict(zip("abcd", values, strict=True))) + "\n")
        process.stdin.flush()
        ready, _, _ = select.select([process.stdout], [], [], 90)
        assert ready, "no output while the pipe was open"
        line = json.loads(process.stdout.readline())
        assert line["a"] == 9.0 and line["is_anomaly"] == 1
    finally:
        process.stdin.close()
        process.wait(timeout=30)
    assert process.returncode == 0 and process.stdout.read() == ""
