"""Property-based run over the OpenAPI spec: every schemathesis check passes, not only "no 5xx".

The checks cover: no server error; every status, content type, header and body as the spec declares
them; requests that break the schema refused with a 4xx; the API key enforced where the spec says it
is; 405 with an ``Allow`` header for methods an operation lacks.
"""

from __future__ import annotations

import json

import httpx
import pytest
import schemathesis
from conftest import FAST, ThreadServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.config import SchemathesisConfig

from aedetect import AutoencoderDetector
from aedetect.serve.app import ServedModel, create_app

OPERATIONS = [
    ("/health", "GET"),
    ("/model", "GET"),
    ("/models", "GET"),
    ("/models/{name}", "GET"),
    ("/score", "POST"),
    ("/models/{name}/score", "POST"),
    ("/score/bulk", "POST"),
    ("/models/{name}/score/bulk", "POST"),
]
KEY = "schema-key"
#: The spec cannot say which features a model has, nor which values it can score (a number too large
#: for the network, a null where there is no imputation), so a request that fits the spec may still be
#: refused with a 422 (or a 413 for too many rows); for every other operation a valid request gets a 2xx.
CONFIG = {
    "operations": [
        {
            "include-path-regex": "score$",
            "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "404", "413", "422"]}},
        },
        # Bytes that fit "format: binary" are rarely an Arrow stream or a Parquet file: a 400 says so.
        {
            "include-path-regex": "bulk$",
            "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "400", "404", "413", "422"]}},
        },
    ]
}


@schemathesis.serializer("application/vnd.apache.arrow.stream", "application/vnd.apache.parquet")
def _binary(ctx, value) -> bytes:
    """Bulk bodies as generated: bytes for 'format: binary' (text otherwise)."""
    return value if isinstance(value, bytes) else str(value).encode()


@pytest.fixture(scope="module")
def models(normal_frame):
    return {
        "main": ServedModel("main", AutoencoderDetector(**FAST).fit(normal_frame)),
        "recon": ServedModel("recon", AutoencoderDetector(**{**FAST, "score": "reconstruction"}).fit(normal_frame)),
    }


@pytest.fixture(scope="module", params=["with a key", "without a key"])
def api(request, models):
    key = KEY if request.param == "with a key" else None
    app = create_app(models, api_key=key, max_rows=200, max_body_bytes=100_000)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, config=SchemathesisConfig.from_dict(CONFIG))
    return schema, ({"X-API-Key": KEY} if key else None)


def test_the_spec_lists_every_operation(api):
    listed = {(op.ok().path, op.ok().method.upper()) for op in api[0].get_all_operations()}
    assert listed == set(OPERATIONS)


def test_the_spec_declares_the_key_only_when_there_is_one(api):
    schema, headers = api
    spec = schema.raw_schema
    secured = [op for path in spec["paths"].values() for op in path.values() if op.get("security")]
    assert len(secured) == (7 if headers else 0)
    assert ("401" in spec["paths"]["/score"]["post"]["responses"]) == bool(headers)
    error = {"$ref": "#/components/schemas/ErrorResponse"}
    for status in ("400", "413", "415", "422"):
        assert spec["paths"]["/score"]["post"]["responses"][status]["content"]["application/json"]["schema"] == error


CASES = [(path, method, GenerationMode.POSITIVE) for path, method in OPERATIONS] + [
    (path, method, GenerationMode.NEGATIVE) for path, method in OPERATIONS if method == "POST"
]


@pytest.mark.parametrize(("path", "method", "mode"), CASES)
def test_every_check_passes_for_generated_requests(api, path, method, mode):
    schema, key = api
    operation = schema[path][method]
    examples = 25 if method == "POST" else 8

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None
    )
    def run(case):
        case.call_and_validate(headers=dict(key or {}))  # every check enabled (the default in schemathesis 4)

    run()


VALUES = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.none(),
    st.booleans(),
    st.text(max_size=5),
)


def test_any_values_for_the_right_features_get_scores_or_a_422(models):
    """Records with the model's feature names and arbitrary JSON values: scored, or refused with a 422."""
    seen = set()
    app = create_app(models, max_rows=200, max_body_bytes=100_000)
    with ThreadServer(app) as url, httpx.Client(base_url=url, timeout=30) as client:

        @given(rows=st.lists(st.fixed_dictionaries({name: VALUES for name in "abcd"}), min_size=1, max_size=5))
        @settings(
            max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None
        )
        def run(rows):
            body = json.dumps({"records": rows}, allow_nan=False)
            response = client.post("/score", content=body, headers={"content-type": "application/json"})
            assert response.status_code in (200, 422), (rows, response.text)
            seen.add(response.status_code)
            if response.status_code == 200:
                assert len(response.json()["scores"]) == len(rows)

        run()
    assert seen == {200, 422}
