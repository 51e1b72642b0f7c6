"""The scoring service, over real HTTP on a loopback port (uvicorn in a thread or a subprocess)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import numpy as np
import pandas as pd
import pytest
from conftest import FAST, ThreadServer, free_port
from typer.testing import CliRunner

from aedetect import AutoencoderDetector
from aedetect.cli import app as cli_app
from aedetect.serve.app import ServedModel, create_app
from aedetect.thresholds import parse_threshold

MAX_ROWS = 50
MAX_BODY = 20_000
KEY = "s3cret-key"


@pytest.fixture(scope="module")
def detectors(normal_frame):
    default = AutoencoderDetector(**FAST).fit(normal_frame)
    return {"main": default, "recon": AutoencoderDetector(**{**FAST, "score": "reconstruction"}).fit(normal_frame)}


@pytest.fixture(scope="module", params=["small requests on the event loop", "every request in a thread"])
def models(detectors, request):
    """The served models, with small requests scored on the event loop or all in worker threads
    (``ServedModel.loop_seconds`` pinned, not left to this machine's clock): every test of the
    service's answers runs both ways."""
    served = {name: ServedModel(name, detector) for name, detector in detectors.items()}
    for model in served.values():
        model.loop_seconds = 0.0 if "loop" in request.param else float("inf")
    return served


@pytest.fixture(scope="module")
def base(models):
    with ThreadServer(create_app(models, max_rows=MAX_ROWS, max_body_bytes=MAX_BODY)) as url:
        yield url


@pytest.fixture(scope="module")
def client(base):
    with httpx.Client(base_url=base, timeout=30) as http:
        yield http


@pytest.fixture(scope="module")
def probe(fresh_normals, outliers) -> pd.DataFrame:
    return pd.concat([fresh_normals.iloc[:20], outliers], ignore_index=True)


def test_health_and_model_metadata(client, models):
    assert client.get("/health").json() == {"status": "ok", "models": ["main", "recon"]}
    info = client.get("/model").json()
    detector = models["main"].detector
    assert info["name"] == "main" and info["features"] == ["a", "b", "c", "d"]
    assert info["score"] == "latent_knn" and info["threshold"] == pytest.approx(detector.threshold_)
    assert info["threshold_rule"] == "false_alarm_rate:0.01"
    assert info["training"]["epochs"] == detector.history_.stopped_epoch
    assert "val_loss" in info["training"]["metrics_at_best_epoch"]
    assert client.get("/models/recon").json()["score"] == "reconstruction"
    assert set(client.get("/models").json()) == {"main", "recon"}
    assert client.get("/openapi.json").json()["paths"]["/score"]["post"]
    assert client.get("/docs").status_code == 200


def test_score_records_matches_the_detector_and_explains_flagged_rows(client, models, probe):
    response = client.post("/score", json={"records": probe.to_dict(orient="records")})
    assert response.status_code == 200, response.text
    body = response.json()
    detector = models["main"].detector
    np.testing.assert_allclose(body["scores"], detector.decision_function(probe), rtol=1e-12)
    assert body["is_anomaly"] == detector.predict(probe).tolist()
    assert body["is_anomaly"][20:] == [1] * 10 and body["threshold"] == pytest.approx(detector.threshold_)
    flagged = [i for i, flag in enumerate(body["is_anomaly"]) if flag]
    assert body["n_flagged"] == len(flagged) == len(body["explanations"])
    first = body["explanations"][0]
    assert first["row"] == flagged[0] and len(first["top_features"]) == 3
    parts = [f["contribution"] for f in first["top_features"]]
    assert parts == sorted(parts, reverse=True) and {f["feature"] for f in first["top_features"]} <= set("abcd")


def test_columns_and_records_give_the_same_answer(client, probe):
    by_records = client.post("/score", json={"records": probe.to_dict(orient="records")}).json()
    by_columns = client.post("/score", json={"columns": probe.to_dict(orient="list"), "top_features": 1}).json()
    assert by_columns["scores"] == by_records["scores"]
    assert all(len(e["top_features"]) == 1 for e in by_columns["explanations"])


def test_threshold_override_per_request(client, models, probe):
    records = probe.to_dict(orient="records")
    high = client.post("/score", json={"records": records, "threshold": 1e9}).json()
    assert high["threshold"] == 1e9 and high["n_flagged"] == 0 and high["explanations"] == []
    rule = parse_threshold("percentile:50").fit(models["main"].detector.calibration_scores_)
    median = client.post("/score", json={"records": records, "threshold": "percentile:50"}).json()
    assert median["threshold"] == pytest.approx(rule.threshold_)
    assert client.get("/model").json()["threshold"] == pytest.approx(models["main"].detector.threshold_)  # unchanged


def test_several_models_by_name(client, models, probe):
    body = client.post("/models/recon/score", json={"records": probe.to_dict(orient="records")}).json()
    assert body["model"] == "recon"
    np.testing.assert_allclose(body["scores"], models["recon"].detector.decision_function(probe), rtol=1e-12)
    missing = client.post("/models/nope/score", json={"records": probe.to_dict(orient="records")})
    assert missing.status_code == 404 and "main" in missing.json()["detail"]


ROW = {"a": 0.1, "b": 0.2, "c": 0.3, "d": 0.4}
BIG = b"1" + b"0" * 400
BAD_REQUESTS = {
    "malformed JSON": (b'{"records": [', 400, "not valid JSON"),
    "unknown feature": ({"records": [{**ROW, "zzz": 1.0}]}, 422, "zzz"),
    "missing feature": ({"records": [{"a": 1.0, "b": 2.0, "c": 3.0}]}, 422, "lacks feature(s) ['d']"),
    "missing column": ({"columns": {"a": [1.0], "b": [1.0], "c": [1.0]}}, 422, "Missing feature(s) ['d']"),
    "NaN token": (b'{"records": [{"a": NaN, "b": 0, "c": 0, "d": 0}]}', 400, "NaN, which is not JSON"),
    "Infinity token": (b'{"records": [{"a": -Infinity, "b": 0, "c": 0, "d": 0}]}', 400, "-Infinity"),
    "NaN top_features": (b'{"records": [{"a": 0, "b": 0, "c": 0, "d": 0}], "top_features": NaN}', 400, "NaN"),
    "NaN unknown field": (b'{"records": [{"a": 0, "b": 0, "c": 0, "d": 0}], "zz": NaN}', 400, "NaN"),
    "NaN threshold": (b'{"records": [{"a": 0, "b": 0, "c": 0, "d": 0}], "threshold": NaN}', 400, "NaN"),
    "NaN beside a bad value": (b'{"records": [{"a": NaN, "b": [1], "c": 0, "d": 0}]}', 400, "NaN"),
    "400-digit row value": (b'{"records": [{"a": ' + BIG + b', "b": 0, "c": 0, "d": 0}]}', 400, "401 digits"),
    "400-digit column value": (b'{"columns": {"a": [' + BIG + b'], "b": [0], "c": [0], "d": [0]}}', 400, "too large"),
    "400-digit top_features": (
        b'{"records": [{"a": 0, "b": 0, "c": 0, "d": 0}], "top_features": -' + BIG + b"}",
        400,
        "too large",
    ),
    "1e400": (b'{"records": [{"a": 1e400, "b": 0, "c": 0, "d": 0}]}', 400, "1e400 is too large"),
    "lone surrogate": (b'{"records": [{"a": 0, "b": 0, "c": 0, "d": 0}], "\\ud800": 1}', 400, "surrogate"),
    "not UTF-8": (b'{"records": [{"a": "\xff", "b": 0, "c": 0, "d": 0}]}', 400, "UTF-8"),
    "deep nesting": (b'{"records": [{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}]}", 400, "nested too deeply"),
    "list as value": ({"records": [{**ROW, "a": [1.0]}]}, 422, "must be a number, text, true/false or null; got list"),
    "list as threshold": ({"records": [ROW], "threshold": [1]}, 422, "threshold must be a finite number or a rule"),
    "true as threshold": ({"records": [ROW], "threshold": True}, 422, "got bool"),
    "rule that overflows": ({"records": [ROW], "threshold": "mean_std:1e308"}, 422, "not finite"),
    "newline in a key": ({"columns": {"\n": [[1]]}}, 422, "'\\n'.0: A feature value"),
    "top_features too big": ({"records": [ROW], "top_features": 10**30}, 422, "top_features: Input should be less"),
    "body not an object": ([1, 2], 422, "Invalid request: body"),
    "no body": (b"", 422, "Field required"),
    "null": ({"records": [{**ROW, "a": None}]}, 422, "NaN"),
    "text value": ({"records": [{**ROW, "a": "high"}]}, 422, "not numeric"),
    "overflow": ({"records": [{**ROW, "a": 1e308}]}, 422, "1e+308"),
    "ragged columns": ({"columns": {"a": [1.0, 2.0], "b": [1.0], "c": [1.0], "d": [1.0]}}, 422, "same number"),
    "both shapes": ({"records": [ROW], "columns": {"a": [1.0]}}, 422, "exactly one"),
    "no rows": ({"records": []}, 422, "no rows"),
    "unknown field": ({"records": [ROW], "rows": 3}, 422, "rows"),
    "best_f1 override": ({"records": [ROW], "threshold": "best_f1"}, 422, "needs labels"),
    "bad rule": ({"records": [ROW], "threshold": "loudness:3"}, 422, "loudness"),
    "too many rows": ({"records": [ROW] * (MAX_ROWS + 1)}, 413, f"({MAX_ROWS})"),
    "body too large": ({"records": [ROW] * 10, "pad": "x" * MAX_BODY}, 413, "larger than"),
}


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_bad_requests_get_a_clear_4xx(client, case):
    payload, status, fragment = BAD_REQUESTS[case]
    if isinstance(payload, bytes):
        response = client.post("/score", content=payload, headers={"content-type": "application/json"})
    else:
        response = client.post("/score", json=payload)
    assert response.status_code == status, response.text
    assert fragment in str(response.json()["detail"])


@pytest.mark.parametrize("content_type", ["text/plain", None, "application/x-www-form-urlencoded"])
def test_a_body_not_sent_as_json_is_415(client, content_type):
    headers = {"content-type": content_type} if content_type else {}
    response = client.post("/score", content=b'{"records": [{"a": 0, "b": 0, "c": 0, "d": 0}]}', headers=headers)
    assert response.status_code == 415 and "application/json" in response.json()["detail"]


def test_a_chunked_body_over_the_limit_is_refused_without_content_length(client):
    def chunks():
        yield b'{"records": ['
        for _ in range(MAX_BODY // 40):
            yield b'{"a": 0.1, "b": 0.2, "c": 0.3, "d": 0.4},'
        yield b"{}]}"

    response = client.post("/score", content=chunks(), headers={"content-type": "application/json"})
    assert response.status_code == 413 and "larger than" in response.json()["detail"]


def test_api_key_guards_everything_but_health(models):
    with ThreadServer(create_app(models, api_key=KEY)) as url, httpx.Client(base_url=url) as http:
        assert http.get("/health").status_code == 200
        payload = {"records": [ROW]}
        assert http.post("/score", json=payload).status_code == 401
        assert http.get("/model", headers={"X-API-Key": "wrong"}).status_code == 401
        assert http.post("/score", json=payload, headers={"X-API-Key": KEY}).status_code == 200
        assert http.get("/model", headers={"X-API-Key": KEY}).status_code == 200


def test_serve_refuses_a_public_address_without_a_key(tmp_path):
    result = CliRunner().invoke(cli_app, ["serve", str(tmp_path), "--host", "0.0.0.0"], env={"AEDETECT_API_KEY": ""})
    assert result.exit_code == 2 and "API key" in result.stderr and "Traceback" not in result.output


def test_serve_command_runs_real_uvicorn_and_stops_cleanly(models, tmp_path, probe):
    models["main"].detector.save(tmp_path / "model")
    port = free_port()
    env = {**os.environ, "AEDETECT_API_KEY": KEY, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "aedetect.cli", "serve", f"fraud={tmp_path / 'model'}", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        url, deadline = f"http://127.0.0.1:{port}", time.monotonic() + 90
        while True:
            try:
                if httpx.get(f"{url}/health").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, process.stdout.read()
            time.sleep(0.2)
        headers = {"X-API-Key": KEY}
        body = httpx.post(f"{url}/score", json={"records": probe.to_dict(orient="records")}, headers=headers).json()
        assert body["model"] == "fraud" and body["is_anomaly"][20:] == [1] * 10
        assert httpx.get(f"{url}/models/fraud", headers=headers).json()["aedetect_version"]
    finally:
        process.send_signal(signal.SIGINT)
        output = process.communicate(timeout=30)[0]
    assert process.returncode == 0, output
    assert "serving fraud on http://127.0.0.1" in output and "Traceback" not in output
    assert "fraud: threshold false_alarm_rate:0.01 = " in output and "of held-out normal rows" in output
