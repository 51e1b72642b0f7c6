"""The scoring service: a FastAPI app over detectors loaded once (``aedetect serve``).

Endpoints: ``POST /score`` (rows as JSON records or columns; scores, 0/1 flags, the threshold and the
features behind each flagged row), ``POST /score/bulk`` (rows as an Apache Arrow IPC stream or a
Parquet file; scores and flags in the same format), ``GET /model`` (metadata), ``GET /health``,
``GET /metrics`` (Prometheus), the same per model under ``/models/{name}``, and the OpenAPI docs at
``/docs`` (served from the package: they work without internet). Every problem with a request is a
4xx whose body is ``{"detail": "<what is wrong and how to fix it>"}`` (:class:`ErrorResponse`): 400 for
a body that is not strict JSON (``NaN``, ``Infinity``, numbers beyond a 64-bit float, bad UTF-8) or not
Arrow/Parquet, 401 for a missing or wrong API key, 404 for an unknown model, 413 for a body or row
count over the limits, 415 for a body of another media type, 422 for a request of the wrong shape,
unknown or missing features, NaN and values the model cannot score. Responses never hold NaN or
infinity.

Scoring runs in worker threads; small requests (bodies up to :data:`SMALL_BODY_BYTES`) have their own
threads, so a few large requests cannot hold up a 1-row one, and small requests that arrive together
share a forward pass (:mod:`aedetect.serve.batching`). Only the smallest JSON requests to a quick
model are scored on the event loop, where they cost less than the hop to a thread: bodies of at
most 2 KB that keep the model's threshold, to a model that scored and explained the most rows such
a body can hold in less than :data:`aedetect.serve.scoring.LOOP_SECONDS` when it was loaded
(:meth:`~aedetect.serve.scoring.ServedModel.scores_on_loop`).
Models are loaded from JSON + safetensors (:func:`aedetect.load`): nothing is unpickled.
"""

from __future__ import annotations

import math
import os
import secrets
from collections.abc import Mapping
from functools import partial

import anyio
from fastapi import Depends, FastAPI, HTTPException, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.security import APIKeyHeader

from aedetect.serve.batching import SmallRequestBatcher
from aedetect.serve.schemas import ErrorResponse, ScoreRequest, ScoreResponse
from aedetect.serve.scoring import (
    ARROW_STREAM,
    BULK_MEDIA_TYPES,
    PARQUET,
    ServedModel,
    load_models,
    score_bulk,
    score_json,
)

MAX_ROWS = 10_000
MAX_BULK_ROWS = 1_000_000
MAX_BODY_BYTES = 16 << 20
#: Bodies up to this size (about 100 rows of 32 features as JSON) are scored in the threads kept for
#: small requests; larger ones share the other threads, so they cannot hold up a 1-row request.
SMALL_BODY_BYTES = 64 << 10
#: Worker threads for small and for large requests.
SMALL_WORKERS, LARGE_WORKERS = 8, 2
API_KEY_HEADER = "X-API-Key"
LOOPBACK = ("127.0.0.1", "localhost", "::1")

_JSON_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ScoreRequest"}}},
    }
}
_BINARY = {"schema": {"type": "string", "format": "binary"}}
_BULK_BODY = {
    "requestBody": {"required": True, "content": dict.fromkeys(BULK_MEDIA_TYPES, _BINARY)},
    "responses": {
        "200": {"description": "Columns score and is_anomaly", "content": dict.fromkeys(BULK_MEDIA_TYPES, _BINARY)}
    },
}


class _Workers:
    """Two bounded pools of worker threads: one for small requests, one for large ones."""

    def __init__(self) -> None:
        self.small: anyio.CapacityLimiter | None = None
        self.large: anyio.CapacityLimiter | None = None

    async def run(self, size: int, function, *args):
        if self.small is None:  # limiters belong to the running event loop: made on first use
            self.small, self.large = anyio.CapacityLimiter(SMALL_WORKERS), anyio.CapacityLimiter(LARGE_WORKERS)
        limiter = self.small if size <= SMALL_BODY_BYTES else self.large
        return await anyio.to_thread.run_sync(partial(function, *args), limiter=limiter)


def _bulk_threshold(text: str | None) -> float | str | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return text
    return value if math.isfinite(value) else text


def create_app(
    models: Mapping[str, ServedModel],
    api_key: str | None = None,
    max_rows: int = MAX_ROWS,
    max_body_bytes: int = MAX_BODY_BYTES,
    max_bulk_rows: int = MAX_BULK_ROWS,
) -> FastAPI:
    """The FastAPI app serving ``models`` (the first one also at ``/score`` and ``/model``)."""
    from aedetect._version import __version__
    from aedetect.serve.docs import add_offline_docs
    from aedetect.serve.http import BodyLimit, ServerErrorsAsJSON, StrictJSONRoute, is_json_media_type, validation_error
    from aedetect.serve.metrics import MetricsMiddleware, ServiceMetrics

    if not models:
        raise ValueError("Give at least one model to serve.")
    api_key = given_api_key(api_key)
    default = next(iter(models))
    app = FastAPI(
        title="aedetect",
        version=__version__,
        description="Anomaly scores from autoencoders: higher = more anomalous; 1 = anomaly.",
        docs_url=None,
        redoc_url=None,
    )
    app.router.route_class = StrictJSONRoute
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(ServerErrorsAsJSON)  # wraps the body limit and everything inside
    metrics, workers, batcher = ServiceMetrics(), _Workers(), SmallRequestBatcher()
    app.add_middleware(MetricsMiddleware, metrics=metrics, router=app.router, models=models, default=default)
    add_offline_docs(app)
    _declare_request_schema(app)
    header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="The server's API key.")

    def authorised(key: str | None = Security(header)) -> None:
        if key is None or not secrets.compare_digest(key.encode(), api_key.encode()):
            raise HTTPException(401, f"Missing or wrong API key; send it in the {API_KEY_HEADER} header.")

    def served(name: str) -> ServedModel:
        if name not in models:
            raise HTTPException(404, f"No model named {name!r}; this server has {list(models)}.")
        return models[name]

    async def answer_json(model: ServedModel, request: Request) -> Response:
        body = await request.body()
        if body and not is_json_media_type(request.headers.get("content-type", "")):
            raise HTTPException(415, "Send the body as JSON with the header Content-Type: application/json.")
        if model.scores_on_loop(body):
            return score_json(model, body, max_rows, metrics, None)
        return await workers.run(len(body), score_json, model, body, max_rows, metrics, batcher)

    async def answer_bulk(model: ServedModel, request: Request, threshold: str | None) -> Response:
        media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if media not in BULK_MEDIA_TYPES:
            raise HTTPException(
                415,
                f"Send the rows as an Arrow IPC stream (Content-Type: {ARROW_STREAM}) or a Parquet file "
                f"({PARQUET}); JSON goes to /score.",
            )
        body = await request.body()
        limit = max_bulk_rows
        return await workers.run(len(body), score_bulk, model, body, media, _bulk_threshold(threshold), limit, metrics)

    # The spec declares the key and the 401 only when there is one, so that it says what the server does.
    guarded = [Depends(authorised)] if api_key is not None else []
    errors = {status: {"model": ErrorResponse} for status in ([401] if api_key is not None else [])}
    named = {**errors, 404: {"model": ErrorResponse}}
    scoring = {**errors, **{status: {"model": ErrorResponse} for status in (400, 413, 415, 422)}}
    rule = Query(
        None, max_length=100, description="Override the threshold: a number, or a rule such as 'percentile:99.5'."
    )

    @app.get("/health", summary="Liveness: the server is up and its models are loaded")
    def health() -> dict:
        return {"status": "ok", "models": list(models)}

    @app.get("/metrics", include_in_schema=False)
    def prometheus() -> Response:
        body, media = metrics.exposition()
        return Response(body, media_type=media)

    @app.get("/model", dependencies=guarded, responses=errors, summary="Metadata of the default model")
    def model_info() -> dict:
        return models[default].info()

    @app.get("/models", dependencies=guarded, responses=errors, summary="Metadata of every model")
    def all_models() -> dict:
        return {name: m.info() for name, m in models.items()}

    @app.get("/models/{name}", dependencies=guarded, responses=named, summary="Metadata of one model")
    def named_model_info(name: str) -> dict:
        return served(name).info()

    json_route = {"response_model": ScoreResponse, "openapi_extra": _JSON_BODY, "dependencies": guarded}

    @app.post("/score", **json_route, responses=scoring, summary="Score rows with the default model")
    async def score(request: Request) -> Response:
        return await answer_json(models[default], request)

    @app.post("/models/{name}/score", **json_route, responses={**scoring, **named}, summary="Score rows with one model")
    async def score_named(name: str, request: Request) -> Response:
        return await answer_json(served(name), request)

    bulk_route = {"openapi_extra": _BULK_BODY, "dependencies": guarded, "response_class": Response}

    @app.post("/score/bulk", **bulk_route, responses=scoring, summary="Score an Arrow or Parquet table (default model)")
    async def score_bulk_default(request: Request, threshold: str | None = rule) -> Response:
        return await answer_bulk(models[default], request, threshold)

    @app.post(
        "/models/{name}/score/bulk",
        **bulk_route,
        responses={**scoring, **named},
        summary="Score an Arrow or Parquet table with one model",
    )
    async def score_bulk_named(name: str, request: Request, threshold: str | None = rule) -> Response:
        return await answer_bulk(served(name), request, threshold)

    return app


def _declare_request_schema(app: FastAPI) -> None:
    """Put :class:`ScoreRequest` in the spec's components: the scoring routes read their body themselves
    (straight into columns) and name its schema in ``openapi_extra``."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            spec = build()
            schema = ScoreRequest.model_json_schema(ref_template="#/components/schemas/{model}")
            components = spec.setdefault("components", {}).setdefault("schemas", {})
            components.update(schema.pop("$defs", {}))
            components["ScoreRequest"] = schema
        return app.openapi_schema

    app.openapi = openapi


def given_api_key(api_key: str | None) -> str | None:
    """The key clients must send, or None: an empty or blank key is no key (HTTP trims header values)."""
    if api_key is not None and not isinstance(api_key, str):
        raise TypeError(f"The API key must be a string; got {type(api_key).__name__}.")
    key = (api_key or "").strip() or None
    if key is not None and not (key.isascii() and key.isprintable()):
        raise ValueError("The API key must be printable ASCII (it travels in an HTTP header); choose another key.")
    return key


def check_binding(host: str, api_key: str | None, allow_unauthenticated: bool) -> str | None:
    """Refuse to serve beyond this machine without an API key, unless told to; return the key to use."""
    key = given_api_key(api_key)
    if host not in LOOPBACK and key is None and not allow_unauthenticated:
        empty = " (the key given is empty)" if api_key is not None else ""
        raise ValueError(
            f"Serving on {host!r} makes the models reachable from other machines: give an API key{empty} "
            "(--api-key or AEDETECT_API_KEY), or pass --allow-unauthenticated to serve without one."
        )
    return key


def _one_thread_per_request() -> None:
    """Each request's forward pass on one thread: requests run side by side in worker threads, and
    tiny batches lose far more to waking a team of threads than they gain (benchmarks/serve_load.py)."""
    import torch

    torch.set_num_threads(1)


def app_from_environment() -> FastAPI:
    """The app for ``uvicorn --factory`` or gunicorn: models from ``AEDETECT_MODELS`` (``NAME=PATH`` or
    ``PATH``, separated by commas), the key from ``AEDETECT_API_KEY``. Each worker process loads the
    models once."""
    specs = [spec.strip() for spec in os.environ.get("AEDETECT_MODELS", "").split(",") if spec.strip()]
    if not specs:
        raise ValueError("Set AEDETECT_MODELS to the model directories to serve (NAME=PATH or PATH, comma-separated).")
    _one_thread_per_request()
    return create_app(load_models(specs), os.environ.get("AEDETECT_API_KEY"))


def serve(
    models: Mapping[str, ServedModel],
    host: str = "127.0.0.1",
    port: int = 8000,
    api_key: str | None = None,
    allow_unauthenticated: bool = False,
    max_rows: int = MAX_ROWS,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> None:
    """Run the service with uvicorn until interrupted."""
    import uvicorn

    api_key = check_binding(host, api_key, allow_unauthenticated)
    app = create_app(models, api_key, max_rows, max_body_bytes)
    _one_thread_per_request()
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)


__all__ = [
    "create_app",
    "app_from_environment",
    "load_models",
    "serve",
    "check_binding",
    "ServedModel",
    "ScoreRequest",
    "ScoreResponse",
    "ErrorResponse",
]
