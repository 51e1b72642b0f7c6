"""Property-based run over the OpenAPI spec: no generated request makes the service answer 5xx."""

from __future__ import annotations

import json

import httpx
import pytest
import schemathesis
from conftest import FAST, ThreadServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aedetect import AutoencoderDetector
from aedetect.serving import ServedModel, create_app

OPERATIONS = [("/health", "GET"), ("/model", "GET"), ("/models", "GET"), ("/models/{name}", "GET"),
              ("/score", "POST"), ("/models/{name}/score", "POST")]


@pytest.fixture(scope="module")
def api_schema(normal_frame):
    models = {
        "main": ServedModel("main", AutoencoderDetector(**FAST).fit(normal_frame)),
        "recon": ServedModel("recon", AutoencoderDetector(**{**FAST, "score": "reconstruction"}).fit(normal_frame)),
    }
    return schemathesis.openapi.from_asgi("/openapi.json", create_app(models, max_rows=200, max_body_bytes=100_000))


def test_the_spec_lists_every_operation(api_schema):
    listed = {(op.ok().path, op.ok().method.upper()) for op in api_schema.get_all_operations()}
    assert listed == set(OPERATIONS)


@pytest.mark.parametrize(("path", "method"), OPERATIONS)
def test_no_generated_request_makes_a_server_error(api_schema, path, method):
    operation = api_schema[path][method]
    examples = 50 if method == "POST" else 10

    @given(case=operation.as_strategy())
    @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
              database=None)
    def run(case):
        response = case.call()
        assert response.status_code < 500, (case.path_parameters, case.body, response.text)

    run()


VALUES = st.one_of(st.floats(), st.integers(min_value=-(10**30), max_value=10**30), st.none(), st.booleans(),
                   st.text(max_size=5))


def test_any_values_for_the_right_features_get_scores_or_a_4xx(api_schema):
    """Records with the model's feature names and arbitrary JSON values: scored, or refused with a 4xx."""
    seen = set()
    with ThreadServer(api_schema.app) as url, httpx.Client(base_url=url, timeout=30) as client:

        @given(rows=st.lists(st.fixed_dictionaries({name: VALUES for name in "abcd"}), min_size=1, max_size=5))
        @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True,
                  database=None)
        def run(rows):
            body = json.dumps({"records": rows})  # NaN and Infinity as Python's json writes them
            response = client.post("/score", content=body, headers={"content-type": "application/json"})
            assert response.status_code in (200, 422), (rows, response.text)
            seen.add(response.status_code)
            if response.status_code == 200:
                assert len(response.json()["scores"]) == len(rows)

        run()
    assert seen == {200, 422}
