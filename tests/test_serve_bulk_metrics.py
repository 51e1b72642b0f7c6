"""The service's bulk path (Arrow IPC and Parquet bodies), its Prometheus metrics and its worker factory."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import FAST, batched
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from aedetect import AutoencoderDetector
from aedetect.serve.app import ServedModel, app_from_environment, create_app

ARROW = "application/vnd.apache.arrow.stream"
PARQUET = "application/vnd.apache.parquet"


@pytest.fixture(scope="module")
def detector(normal_frame):
    return AutoencoderDetector(**FAST).fit(normal_frame)


@pytest.fixture(scope="module")
def probe(fresh_normals, outliers) -> pd.DataFrame:
    return pd.concat([fresh_normals.iloc[:30], outliers], ignore_index=True)


@pytest.fixture()
def client(detector):
    app = create_app({"main": ServedModel("main", detector)}, max_rows=50, max_bulk_rows=100)
    with TestClient(app, raise_server_exceptions=False) as http:
        yield http


def arrow_body(frame: pd.DataFrame) -> bytes:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = io.BytesIO()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def parquet_body(frame: pd.DataFrame) -> bytes:
    sink = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), sink)
    return sink.getvalue()


@pytest.mark.parametrize(
    ("media", "write", "read"),
    [
        (ARROW, arrow_body, lambda b: pa.ipc.open_stream(b).read_all()),
        (PARQUET, parquet_body, lambda b: pq.read_table(io.BytesIO(b))),
    ],
)
def test_bulk_bodies_get_the_same_scores_as_the_detector(client, detector, probe, media, write, read):
    response = client.post("/score/bulk", content=write(probe), headers={"content-type": media})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == media
    table = read(response.content)
    assert table.column_names == ["score", "is_anomaly"]
    np.testing.assert_array_equal(table["score"].to_numpy(), detector.decision_function(probe))
    np.testing.assert_array_equal(table["is_anomaly"].to_numpy(), detector.predict(probe))
    assert float(response.headers["X-Threshold"]) == detector.threshold_
    assert int(response.headers["X-Rows-Flagged"]) == int(detector.predict(probe).sum()) > 0
    # The JSON path gives the same scores, bit for bit.
    as_json = client.post("/score", json={"records": probe.to_dict("records"), "top_features": 0}).json()
    assert as_json["scores"] == table["score"].to_pylist()


def test_bulk_threshold_override(client, detector, probe):
    response = client.post("/score/bulk?threshold=0", content=arrow_body(probe), headers={"content-type": ARROW})
    assert response.status_code == 200 and float(response.headers["X-Threshold"]) == 0.0
    assert int(response.headers["X-Rows-Flagged"]) == len(probe)


@pytest.mark.parametrize(
    ("body", "media", "status", "fragment"),
    [
        (b"not arrow", ARROW, 400, "not an Arrow IPC stream"),
        (b"not parquet", PARQUET, 400, "not a Parquet file"),
        (b"a,b\n1,2\n", "text/csv", 415, ARROW),
        ("too many", ARROW, 413, "(100); split them"),
        ("missing column", ARROW, 422, "lacks training column(s) ['d']"),
        ("text values", ARROW, 422, "not numeric"),
        ("no rows", ARROW, 422, "no rows"),
    ],
)
def test_bulk_refusals_name_the_problem(client, probe, body, media, status, fragment):
    frames = {
        "too many": pd.concat([probe] * 3, ignore_index=True),
        "missing column": probe.drop(columns="d"),
        "text values": probe.astype({"a": str}),
        "no rows": probe.iloc[:0],
    }
    if isinstance(body, str):
        body = arrow_body(frames[body])
    response = client.post("/score/bulk", content=body, headers={"content-type": media})
    assert response.status_code == status, response.text
    assert fragment in response.json()["detail"]


def samples(text: str) -> dict:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_count_requests_errors_rows_flags_and_scores(client, detector, probe):
    records = probe.to_dict("records")
    assert client.post("/score", json={"records": records}).status_code == 200
    assert client.post("/score", json={"records": records[:1]}).status_code == 200
    assert client.post("/score", json={"records": [{"a": 1.0}]}).status_code == 422
    assert client.post("/score", json={"records": records * 2}).status_code == 413
    assert client.post("/models/nope/score", json={"records": records}).status_code == 404
    assert client.post("/score/bulk", content=arrow_body(probe), headers={"content-type": ARROW}).status_code == 200
    response = client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    got = samples(response.text)
    ok = {"endpoint": "/score", "model": "main", "status": "200"}
    assert got[("aedetect_requests_total", tuple(sorted(ok.items())))] == 2
    for status in ("413", "422"):
        labels = tuple(sorted({**ok, "status": status}.items()))
        assert got[("aedetect_requests_total", labels)] == 1 and got[("aedetect_request_errors_total", labels)] == 1
    unknown = tuple(sorted({"endpoint": "/models/{name}/score", "model": "", "status": "404"}.items()))
    assert got[("aedetect_request_errors_total", unknown)] == 1  # a made-up name makes no new series
    n_rows, n_flagged = 2 * len(probe) + 1, 2 * int(detector.predict(probe).sum()) + int(detector.predict(probe[:1])[0])
    assert got[("aedetect_rows_scored_total", (("model", "main"),))] == n_rows
    assert got[("aedetect_rows_flagged_total", (("model", "main"),))] == n_flagged
    # The score histogram: every row counted; those above 1 x threshold are the flagged ones.
    assert got[("aedetect_score_to_threshold_count", (("model", "main"),))] == n_rows
    at_one = got[("aedetect_score_to_threshold_bucket", (("le", "1.0"), ("model", "main")))]
    assert n_rows - at_one == n_flagged
    latency = (("endpoint", "/score"), ("model", "main"))
    assert got[("aedetect_request_duration_seconds_count", latency)] == 4


def test_each_app_counts_its_own_requests(detector):
    apps = [create_app({"main": ServedModel("main", detector)}) for _ in range(2)]
    with TestClient(apps[0]) as first, TestClient(apps[1]) as second:
        first.get("/health")
        text = second.get("/metrics").text
    assert 'endpoint="/health"' not in text


def test_worker_factory_reads_models_and_key_from_the_environment(detector, tmp_path, monkeypatch):
    detector.save(tmp_path / "m")
    monkeypatch.setattr("aedetect.serve.app._one_thread_per_request", lambda: None)  # keep this process's threads
    monkeypatch.setenv("AEDETECT_MODELS", f"main={tmp_path / 'm'}")
    monkeypatch.setenv("AEDETECT_API_KEY", "k")
    with TestClient(app_from_environment()) as http:
        assert http.get("/health").json()["models"] == ["main"]
        assert http.get("/model").status_code == 401
        assert http.get("/model", headers={"X-API-Key": "k"}).json()["name"] == "main"
    monkeypatch.delenv("AEDETECT_MODELS")
    with pytest.raises(ValueError, match="Set AEDETECT_MODELS"):
        app_from_environment()


_WORKER = """
import json, os, sys
from fastapi.testclient import TestClient
from aedetect.serve.app import app_from_environment
from aedetect.serve.metrics import multiprocess_directory

rows, show = json.loads(sys.argv[1]), sys.argv[2] == "show"
directory = os.environ["PROMETHEUS_MULTIPROC_DIR"]
os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory + "-missing"
try:
    multiprocess_directory()
except ValueError as error:
    print("refused:", error)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
with TestClient(app_from_environment()) as http:
    assert http.post("/score", json={"records": rows}).status_code == 200
    print(http.get("/metrics").text if show else "")
"""


def test_worker_processes_count_together_in_multiprocess_mode(detector, probe, tmp_path):
    detector.save(tmp_path / "m")
    (tmp_path / "metrics").mkdir()
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
        "AEDETECT_MODELS": f"main={tmp_path / 'm'}",
        "OMP_NUM_THREADS": "1",
    }
    parts = [probe.iloc[:3], probe.iloc[-2:]]  # two workers, each scoring its own rows
    outputs = [
        subprocess.run(
            [sys.executable, "-c", _WORKER, part.to_json(orient="records"), "show" if i else ""],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
        for i, part in enumerate(parts)
    ]
    assert "refused: PROMETHEUS_MULTIPROC_DIR=" in outputs[0] and "create it (empty)" in outputs[0]
    got = samples(outputs[1].split("\n", 1)[1])
    ok = tuple(sorted({"endpoint": "/score", "model": "main", "status": "200"}.items()))
    assert got[("aedetect_requests_total", ok)] == 2  # one request in each process, summed
    assert got[("aedetect_rows_scored_total", (("model", "main"),))] == 5
    flagged = int(detector.predict(pd.concat(parts)).sum())
    assert got[("aedetect_rows_flagged_total", (("model", "main"),))] == flagged
    assert got[("aedetect_score_to_threshold_count", (("model", "main"),))] == 5
    at_one = got[("aedetect_score_to_threshold_bucket", (("le", "1.0"), ("model", "main")))]
    assert 5 - at_one == flagged


def test_small_requests_that_arrive_together_share_a_batch_and_keep_their_own_answers(detector, probe):
    from aedetect.batch.core import RowScoringCore
    from aedetect.serve.batching import SmallRequestBatcher

    core = RowScoringCore(detector)
    bad = probe.iloc[:2].copy()
    bad.loc[bad.index[1], "a"] = np.nan  # this request's row 1 cannot be scored
    requests = [probe.iloc[[0]], probe.iloc[1:4], bad, probe.iloc[4:9]]
    features = [core.features(request.reset_index(drop=True)) for request in requests]
    calls, results = batched(core, SmallRequestBatcher(), features)
    assert calls[:2] == [1, 10]  # the three waiting requests were scored as one batch (which failed)
    for i in (0, 1, 3):
        np.testing.assert_array_equal(results[i].scores, detector.decision_function(requests[i]))
    assert isinstance(results[2], ValueError) and "data row 2" in str(results[2])  # its own row, not the batch's
