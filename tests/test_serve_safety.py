"""The service under hostile requests: only 2xx/4xx, every body strict JSON, keep-alive connections survive."""

from __future__ import annotations

import copy
import json
import math

import httpx
import numpy as np
import pytest
from conftest import FAST, ThreadServer
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from aedetect import AutoencoderDetector
from aedetect.cli import app as cli_app
from aedetect.serve.app import ServedModel, check_binding, create_app

MAX_ROWS = 20
MAX_BODY = 50_000
ROW = {"a": 0.1, "b": 0.2, "c": 0.3, "d": 0.4}
SETTINGS = settings(
    max_examples=300, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
)


def strict(text: str):
    """Parse as RFC 8259 JSON: NaN, Infinity and -Infinity tokens are an error."""

    def refuse(token):
        raise ValueError(f"{token} in a response")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture(scope="module")
def detector(normal_frame):
    return AutoencoderDetector(**FAST).fit(normal_frame)


@pytest.fixture(scope="module")
def client(detector):
    app = create_app({"main": ServedModel("main", detector)}, max_rows=MAX_ROWS, max_body_bytes=MAX_BODY)
    with TestClient(app, raise_server_exceptions=False) as http:
        yield http


def check(response, body=None) -> dict:
    assert response.status_code < 500, (body, response.text)
    assert response.headers["content-type"] == "application/json", (body, response.headers)
    parsed = strict(response.text)
    if response.status_code == 200:
        assert None not in parsed["scores"] and parsed["threshold"] is not None
        assert all(math.isfinite(s) for s in parsed["scores"])
    else:
        assert isinstance(parsed["detail"], str) and "\n" not in parsed["detail"], parsed
    return parsed


NUMBERS = st.one_of(
    st.floats(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.sampled_from([0, -0.0, 1e308, -1e308, 5e-324, 2**63, 10**309, 10**308]),
)
LEAVES = st.one_of(
    NUMBERS, st.none(), st.booleans(), st.text(max_size=8), st.sampled_from(["1.5", "NaN", "", "\x00", "a" * 300])
)
VALUES = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=6,
)
KEYS = st.one_of(st.sampled_from([*ROW, "\n", "a\x00", "\u2028"]), st.text(max_size=4))
RECORDS = st.lists(
    st.one_of(st.fixed_dictionaries({k: VALUES for k in ROW}), st.dictionaries(KEYS, VALUES, max_size=5), VALUES),
    max_size=4,
)
COLUMNS = st.dictionaries(KEYS, st.one_of(st.lists(VALUES, max_size=3), VALUES), max_size=5)
RULES = st.builds(
    lambda name, value: f"{name}:{value}",
    st.sampled_from(["percentile", "mean_std", "false_alarm_rate", "contamination", "best_f1", "zz"]),
    st.one_of(NUMBERS, st.text(max_size=4)),
)
FIELDS = {
    "records": RECORDS,
    "columns": COLUMNS,
    "threshold": st.one_of(NUMBERS, RULES, VALUES),
    "top_features": st.one_of(NUMBERS, VALUES),
    "extra": VALUES,
}
BODIES = st.builds(lambda chosen: dict(chosen), st.fixed_dictionaries({}, optional=FIELDS)).map(
    lambda body: {("zz" if k == "extra" else k): v for k, v in body.items()}
)


@SETTINGS
@given(body=BODIES)
def test_near_valid_bodies_get_a_2xx_or_4xx_with_a_strict_json_body(client, body):
    text = json.dumps(body)  # NaN and Infinity written as Python writes them
    check(client.post("/score", content=text.encode(), headers={"content-type": "application/json"}), text)


@SETTINGS
@given(
    raw=st.one_of(
        st.binary(max_size=200),
        BODIES.map(lambda b: json.dumps(b).encode()[:-3]),
        BODIES.map(lambda b: json.dumps(b, ensure_ascii=False).encode("utf-8", "surrogatepass")),
    )
)
def test_random_bytes_get_a_4xx_with_a_strict_json_body(client, raw):
    check(client.post("/score", content=raw, headers={"content-type": "application/json"}), raw)


def test_valid_rows_with_fuzzed_thresholds_never_answer_a_non_finite_number(client):
    for threshold in ["mean_std:1e308", "mean_std:1e300", "percentile:99.9999999", 1e308, -1e308, 10**308]:
        response = client.post("/score", json={"records": [ROW], "threshold": threshold})
        parsed = check(response, threshold)
        if threshold == "mean_std:1e308":
            assert response.status_code == 422 and "mean_std" in parsed["detail"] and "finite" in parsed["detail"]


@pytest.mark.parametrize("loop_seconds", [0.0, math.inf], ids=["on the event loop", "in a thread"])
def test_an_explanation_that_overflows_is_a_422_not_infinity(detector, loop_seconds):
    broken = copy.deepcopy(detector)
    broken._feature_error_matrix = lambda rows: np.full((len(rows), 4), np.inf, dtype=np.float32)
    served = ServedModel("main", broken)
    served.loop_seconds = loop_seconds
    with TestClient(create_app({"main": served}), raise_server_exceptions=False) as http:
        outlier = {"records": [{"a": 8.0, "b": -8.0, "c": 8.0, "d": -8.0}]}
        response = http.post("/score", json=outlier)
        assert response.status_code == 422 and "top_features=0" in check(response)["detail"]
        assert check(http.post("/score", json={**outlier, "top_features": 0}))["n_flagged"] == 1


def test_metadata_of_a_model_whose_training_metrics_went_nan_is_strict_json(detector):
    broken = copy.deepcopy(detector)
    broken.history_.values = {k: [math.nan] * len(v) for k, v in broken.history_.values.items()}
    with TestClient(create_app({"main": ServedModel("main", broken)}), raise_server_exceptions=False) as http:
        response = http.get("/model")
        assert response.status_code == 200
        assert set(strict(response.text)["training"]["metrics_at_best_epoch"].values()) == {None}


class Failing(ServedModel):
    def info(self) -> dict:
        raise RuntimeError("a bug")


HOSTILE = [
    ("POST", "/score", b'{"records": [{"a": NaN, "b": 0, "c": 0, "d": 0}]}', 400),
    ("POST", "/score", b'{"records": [{"a": 0, "b": 0, "c": 0, "d": 0}], "top_features": NaN}', 400),
    ("POST", "/score", b'{"records": [{"a": 1' + b"0" * 400 + b', "b": 0, "c": 0, "d": 0}]}', 400),
    ("POST", "/score", b'{"records": [{"a": "\\ud800", "b": 0, "c": 0, "d": 0}]}', 400),
    ("POST", "/score", b"[" * 3000 + b"]" * 3000, 400),
    ("POST", "/score", b'{"records": [', 400),
    ("POST", "/score", b'{"records": [{"a": "x", "b": 0, "c": 0, "d": 0}]}', 422),
    ("POST", "/score", b'{"records": [{"a": 0, "b": 0, "c": 0, "d": 0}], "threshold": "mean_std:1e308"}', 422),
    ("POST", "/models/nope/score", b'{"records": []}', 404),
    ("GET", "/model", None, 500),  # a bug in the server: a JSON 500, and the connection stays open
]


def test_a_keep_alive_connection_survives_hostile_requests(detector):
    models = {"main": Failing("main", detector)}
    with ThreadServer(create_app(models)) as url, httpx.Client(base_url=url, timeout=30) as http:
        first = http.get("/health")
        address = first.extensions["network_stream"].get_extra_info("client_addr")
        for method, path, body, status in HOSTILE:
            response = http.request(method, path, content=body, headers={"content-type": "application/json"})
            assert response.status_code == status, (body, response.text)
            assert response.headers.get("connection") != "close" and isinstance(strict(response.text)["detail"], str)
            after = http.get("/health")
            assert after.status_code == 200
            assert after.extensions["network_stream"].get_extra_info("client_addr") == address, (path, body)


@pytest.mark.parametrize("key", ["", "   ", "\t"])
def test_a_blank_api_key_is_no_key(detector, key):
    with pytest.raises(ValueError, match="the key given is empty"):
        check_binding("0.0.0.0", key, allow_unauthenticated=False)
    assert check_binding("127.0.0.1", key, allow_unauthenticated=False) is None
    with TestClient(create_app({"main": ServedModel("main", detector)}, api_key=key)) as http:
        assert http.post("/score", json={"records": [ROW]}).status_code == 200  # served without a key, not locked
        assert "security" not in http.get("/openapi.json").json()["paths"]["/score"]["post"]


def test_the_key_is_compared_in_constant_time_and_trimmed(detector):
    assert check_binding("0.0.0.0", " s3cret ", allow_unauthenticated=False) == "s3cret"
    with TestClient(create_app({"main": ServedModel("main", detector)}, api_key=" s3cret ")) as http:
        assert http.get("/model", headers={"X-API-Key": "s3cret"}).status_code == 200
        assert http.get("/model", headers={"X-API-Key": "s3cre"}).status_code == 401
        assert http.get("/model", headers={"X-API-Key": "ß".encode()}).status_code == 401
    with pytest.raises(ValueError, match="printable ASCII"):
        check_binding("0.0.0.0", "schlüssel", allow_unauthenticated=False)


def test_serve_refuses_an_empty_api_key_on_a_public_address(tmp_path):
    result = CliRunner().invoke(cli_app, ["serve", str(tmp_path), "--host", "0.0.0.0", "--api-key", ""])
    assert result.exit_code == 2 and "the key given is empty" in result.stderr and "Traceback" not in result.output
