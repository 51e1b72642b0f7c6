"""The scoring service: a FastAPI app over detectors loaded once (``aedetect serve``).

Endpoints: ``POST /score`` (rows as JSON records or columns; scores, 0/1 flags, the threshold and the
features behind each flagged row), ``GET /model`` (metadata), ``GET /health``, the same per model
under ``/models/{name}``, and the OpenAPI docs at ``/docs``. Every problem with a request is a 4xx
whose body is ``{"detail": "<what is wrong and how to fix it>"}`` (:class:`ErrorResponse`): 400 for a
body that is not strict JSON (``NaN``, ``Infinity``, numbers beyond a 64-bit float, bad UTF-8), 401 for
a missing or wrong API key, 404 for an unknown model, 413 for a body or row count over the limits, 415
for a body not sent as ``application/json``, 422 for a request of the wrong shape, unknown or missing
features, NaN and values the model cannot score. Responses never hold NaN or infinity.

Models are loaded from JSON + safetensors (:func:`aedetect.load`): nothing is unpickled.
"""

from __future__ import annotations

import json
import math
import secrets
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import pandas as pd
from fastapi import Depends, FastAPI, HTTPException, Security
from fastapi.exceptions import RequestValidationError
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, ConfigDict, Field, ValidationError, WrapValidator
from pydantic_core import PydanticCustomError

from aedetect.batch.core import RowScoringCore
from aedetect.thresholds import ThresholdRule

MAX_ROWS = 10_000
MAX_BODY_BYTES = 16 << 20
API_KEY_HEADER = "X-API-Key"
LOOPBACK = ("127.0.0.1", "localhost", "::1")
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


def _one_error(code: str, message: str):
    """A validator that reports one plain error instead of one per member of a union."""

    def validate(value, handler):
        if isinstance(value, bool) and code == "threshold_type":
            raise PydanticCustomError(code, message, {"kind": "bool"})
        try:
            return handler(value)
        except ValidationError:
            raise PydanticCustomError(code, message, {"kind": type(value).__name__}) from None

    return WrapValidator(validate)


Value = Annotated[
    float | int | bool | str | None,
    _one_error("feature_value", "A feature value must be a number, text, true/false or null; got {kind}"),
]
Threshold = Annotated[
    FiniteFloat | Annotated[str, Field(max_length=100)] | None,
    _one_error(
        "threshold_type",
        "The threshold must be a finite number or a rule such as "
        "'percentile:99.5' (at most 100 characters); got {kind}",
    ),
]


class Problem(BaseModel):
    loc: list[str | int] = Field(description="Where in the request, e.g. ['body', 'records', 0, 'a'].")
    msg: str
    type: str


class ErrorResponse(BaseModel):
    """Every error the service gives: one line naming the problem and the fix."""

    detail: str
    errors: list[Problem] | None = Field(None, description="Each problem of a request that fails validation (422).")


class ScoreRequest(BaseModel):
    """Rows to score: ``records`` (a list of {feature: value}) or ``columns`` ({feature: [values]})."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"records": [{"a": 0.1, "b": -1.2}]}]})
    records: list[dict[str, Value]] | None = Field(None, description="One object per row, every feature once.")
    columns: dict[str, list[Value]] | None = Field(None, description="One list per feature, all of the same length.")
    threshold: Threshold = Field(
        None,
        description="Override the model's threshold for this request: a number, or a rule such as "
        "'percentile:99.5' fitted on the model's held-out normal scores.",
    )
    top_features: int = Field(3, ge=0, le=100, description="Features listed per flagged row.")


class Contribution(BaseModel):
    feature: str
    error: FiniteFloat = Field(description="Reconstruction error of the feature (model space).")
    contribution: FiniteFloat = Field(description="Its part in the score: the error relative to its normal level.")


class Explanation(BaseModel):
    row: int
    top_features: list[Contribution]


class ScoreResponse(BaseModel):
    model: str
    threshold: FiniteFloat
    scores: list[FiniteFloat] = Field(description="Anomaly scores, higher = more anomalous.")
    is_anomaly: list[int] = Field(description="1 = anomaly (score above the threshold), 0 = normal.")
    n_flagged: int
    explanations: list[Explanation] = Field(description="The top features of each flagged row.")


class ServedModel:
    """A loaded detector, its metadata and a cache of threshold overrides."""

    def __init__(self, name: str, detector, saved: Mapping[str, Any] | None = None) -> None:
        self.name, self.detector = name, detector
        self.saved = dict(saved or {})
        self.thresholds: dict[str, ThresholdRule] = {}

    def info(self) -> dict:
        d = self.detector
        members = getattr(d, "members_", None)  # an ensemble: one training per member
        return {
            "name": self.name,
            "features": list(d.preprocessor_.columns_),
            "categorical_features": list(d.preprocessor_.categorical_features),
            "model_features": list(d.feature_names_out_),
            "score": d.score,
            "threshold": float(d.threshold_),
            "threshold_rule": d.threshold_rule_.to_spec(),
            "aedetect_version": self.saved.get("aedetect_version"),
            "saved_at": self.saved.get("saved_at"),
            "architecture": d.model_kind_,
            "members": len(members) if members is not None else 1,
            "training": [_training(m.history_) for m in members] if members is not None else _training(d.history_),
        }

    def threshold(self, override: float | str | None) -> float:
        """The threshold that flags a request's rows: the model's, or the request's override."""
        return self.core(override).threshold

    def core(self, override: float | str | None) -> RowScoringCore:
        """The row-scoring core for a request's threshold override (a rule text is fitted once and kept)."""
        if not isinstance(override, str):
            return RowScoringCore(self.detector, threshold=override)
        if override not in self.thresholds:
            rule = RowScoringCore(self.detector, threshold=override).rule
            if len(self.thresholds) > 256:
                self.thresholds.clear()
            self.thresholds[override] = rule
        return RowScoringCore(self.detector, threshold=self.thresholds[override])


def _training(history) -> dict:
    best = {
        k: _finite_or_none(v[history.best_epoch - 1])
        for k, v in history.values.items()
        if 0 < history.best_epoch <= len(v)
    }
    return {
        "epochs": history.stopped_epoch,
        "best_epoch": history.best_epoch,
        "seconds": history.seconds,
        "metrics_at_best_epoch": best,
    }


def _finite_or_none(value):
    """A training metric as JSON: a number, or null where it was NaN or infinite."""
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def load_models(specs: list[str]) -> dict[str, ServedModel]:
    """Load ``NAME=PATH`` or ``PATH`` (named after its folder) model directories, once each."""
    from aedetect.persistence.load import load
    from aedetect.persistence.storage import CONFIG_FILE, ENSEMBLE_FILE

    models: dict[str, ServedModel] = {}
    for spec in specs:
        name, _, path = spec.rpartition("=") if "=" in spec else ("", "", spec)
        name = name or Path(path).resolve().name
        if name in models:
            raise ValueError(f"Two models are named {name!r}; name them with NAME=PATH.")
        detector = load(path)
        manifest = Path(path) / ENSEMBLE_FILE
        saved = json.loads((manifest if manifest.is_file() else Path(path) / CONFIG_FILE).read_text())
        models[name] = ServedModel(name, detector, {k: saved.get(k) for k in ("aedetect_version", "saved_at")})
    if not models:
        raise ValueError("Give at least one model directory to serve.")
    return models


def _frame(request: ScoreRequest, columns: list[str], numeric: list[str], max_rows: int) -> pd.DataFrame:
    if (request.records is None) == (request.columns is None):
        raise HTTPException(422, "Give the rows either as 'records' or as 'columns' (exactly one of them).")
    if request.records is not None:
        n_rows, names = len(request.records), set().union(*(r.keys() for r in request.records))
    else:
        lengths = {len(v) for v in request.columns.values()}
        if len(lengths) > 1:
            raise HTTPException(
                422, f"Every column must have the same number of values; got lengths {sorted(lengths)}."
            )
        n_rows, names = (lengths.pop() if lengths else 0), set(request.columns)
    if n_rows > max_rows:
        raise HTTPException(413, f"{n_rows} rows is more than this server scores per request ({max_rows}); split them.")
    if n_rows == 0:
        raise HTTPException(422, "There are no rows to score.")
    unknown, missing = sorted(names - set(columns)), [c for c in columns if c not in names]
    if unknown:
        shown = [name[:60] for name in unknown[:5]]
        raise HTTPException(422, f"Unknown feature(s) {shown}; the model's features are {columns[:20]}.")
    if request.records is not None:
        incomplete = next((i for i, r in enumerate(request.records) if len(r) != len(columns)), None)
        if incomplete is not None:
            lacking = [c for c in columns if c not in request.records[incomplete]]
            raise HTTPException(422, f"Record {incomplete} lacks feature(s) {lacking[:5]}; give every feature.")
        return _nulls_as_nan(pd.DataFrame.from_records(request.records, columns=columns), numeric)
    if missing:
        raise HTTPException(422, f"Missing feature(s) {missing[:5]}; give every feature.")
    return _nulls_as_nan(pd.DataFrame({c: request.columns[c] for c in columns}), numeric)


def _nulls_as_nan(frame: pd.DataFrame, numeric: list[str]) -> pd.DataFrame:
    """JSON null in a numeric column is a missing number (NaN), not text: impute or reject it as such."""
    for column in numeric:
        values = frame[column]
        if values.dtype == object and all(
            v is None or (isinstance(v, int | float) and not isinstance(v, bool)) for v in values
        ):
            frame[column] = values.astype(np.float64)
    return frame


def _explain(core: RowScoringCore, features, flagged: np.ndarray, top: int) -> list[Explanation]:
    if top == 0 or not len(flagged):
        return []
    return [
        Explanation(
            row=int(row),
            top_features=[Contribution(feature=c.feature, error=c.error, contribution=c.contribution) for c in parts],
        )
        for row, parts in zip(flagged, core.explain(features, flagged, top), strict=True)
    ]


def score_request(served: ServedModel, request: ScoreRequest, max_rows: int, lock: threading.Lock) -> ScoreResponse:
    """Score one request; raise ``HTTPException`` (4xx) for anything wrong with it."""
    d = served.detector
    try:
        frame = _frame(request, list(d.preprocessor_.columns_), d.preprocessor_.numeric_columns_, max_rows)
        core = served.core(request.threshold)
        features = core.features(frame)
        with lock, np.errstate(over="ignore"):  # one scoring at a time: one batch uses the cores best
            scored = core.score_features(features)
            if not np.isfinite(scored.scores).all():
                bad = int(np.flatnonzero(~np.isfinite(scored.scores))[0])
                raise ValueError(f"Row {bad} has values too large for the model to score (the score overflows).")
            explanations = _explain(core, features, np.flatnonzero(scored.flags), request.top_features)
    except (ValueError, TypeError, OverflowError) as error:
        raise HTTPException(422, " ".join(str(error).split())[:2000]) from None
    return ScoreResponse(
        model=served.name,
        threshold=core.threshold,
        scores=scored.scores.tolist(),
        is_anomaly=scored.flags.tolist(),
        n_flagged=scored.flagged,
        explanations=explanations,
    )


def create_app(
    models: Mapping[str, ServedModel],
    api_key: str | None = None,
    max_rows: int = MAX_ROWS,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> FastAPI:
    """The FastAPI app serving ``models`` (the first one also at ``/score`` and ``/model``)."""
    from aedetect._version import __version__
    from aedetect.serve.http import BodyLimit, ServerErrorsAsJSON, StrictJSONRoute, validation_error

    if not models:
        raise ValueError("Give at least one model to serve.")
    api_key = given_api_key(api_key)
    default = next(iter(models))
    app = FastAPI(
        title="aedetect",
        version=__version__,
        description="Anomaly scores from autoencoders: higher = more anomalous; 1 = anomaly.",
    )
    app.router.route_class = StrictJSONRoute
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    app.add_middleware(ServerErrorsAsJSON)  # added last, so it wraps the body limit and everything inside
    lock = threading.Lock()
    header = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="The server's API key.")

    def authorised(key: str | None = Security(header)) -> None:
        if key is None or not secrets.compare_digest(key.encode(), api_key.encode()):
            raise HTTPException(401, f"Missing or wrong API key; send it in the {API_KEY_HEADER} header.")

    def served(name: str) -> ServedModel:
        if name not in models:
            raise HTTPException(404, f"No model named {name!r}; this server has {list(models)}.")
        return models[name]

    # The spec declares the key and the 401 only when there is one, so that it says what the server does.
    guarded = [Depends(authorised)] if api_key is not None else []
    errors = {status: {"model": ErrorResponse} for status in ([401] if api_key is not None else [])}
    named = {**errors, 404: {"model": ErrorResponse}}
    scoring = {**errors, **{status: {"model": ErrorResponse} for status in (400, 413, 415, 422)}}

    @app.get("/health", summary="Liveness: the server is up and its models are loaded")
    def health() -> dict:
        return {"status": "ok", "models": list(models)}

    @app.get("/model", dependencies=guarded, responses=errors, summary="Metadata of the default model")
    def model_info() -> dict:
        return models[default].info()

    @app.get("/models", dependencies=guarded, responses=errors, summary="Metadata of every model")
    def all_models() -> dict:
        return {name: m.info() for name, m in models.items()}

    @app.get("/models/{name}", dependencies=guarded, responses=named, summary="Metadata of one model")
    def named_model_info(name: str) -> dict:
        return served(name).info()

    @app.post(
        "/score",
        dependencies=guarded,
        response_model=ScoreResponse,
        responses=scoring,
        summary="Score rows with the default model",
    )
    def score(request: ScoreRequest) -> ScoreResponse:
        return score_request(models[default], request, max_rows, lock)

    @app.post(
        "/models/{name}/score",
        dependencies=guarded,
        response_model=ScoreResponse,
        responses={**scoring, **named},
        summary="Score rows with one model",
    )
    def score_named(name: str, request: ScoreRequest) -> ScoreResponse:
        return score_request(served(name), request, max_rows, lock)

    return app


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
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)


__all__ = [
    "create_app",
    "load_models",
    "serve",
    "check_binding",
    "ServedModel",
    "ScoreRequest",
    "ScoreResponse",
    "ErrorResponse",
]
