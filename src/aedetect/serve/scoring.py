"""Scoring a request: the served models, JSON and bulk (Apache Arrow IPC, Parquet) bodies, the answer.

Every row goes through :class:`aedetect.batch.core.RowScoringCore`; these functions only read the
request, bound its work (rows per request) and write the answer. They run off the event loop, in a
worker thread (see :mod:`aedetect.serve.app`), except the smallest JSON requests to a quick model
(:meth:`ServedModel.scores_on_loop`).
"""

from __future__ import annotations

import json
import logging
import math
import statistics
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
from fastapi import HTTPException
from fastapi.responses import Response

from aedetect.batch.core import RowScoringCore, ScoredRows
from aedetect.serve.batching import SmallRequestBatcher
from aedetect.serve.columns import request_rows
from aedetect.serve.metrics import ServiceMetrics
from aedetect.serve.schemas import MAX_TOP_FEATURES
from aedetect.thresholds import ThresholdRule

ARROW_STREAM = "application/vnd.apache.arrow.stream"
PARQUET = "application/vnd.apache.parquet"
BULK_MEDIA_TYPES = (ARROW_STREAM, PARQUET)
#: The errors a request's values can cause while it is scored: a 422 naming the problem.
_SCORING_ERRORS = (ValueError, TypeError, OverflowError, pa.ArrowException)
logger = logging.getLogger("aedetect.serve")
#: JSON bodies up to this size (a row of about 70 features) may be scored on the event loop itself:
#: handing a 1-row request to a worker thread and back costs more CPU than scoring it (see
#: benchmarks/results/serve_load.md).
LOOP_BODY_BYTES = 2048
#: ... when the model scores and explains the most rows such a body can hold in less than this: the
#: GIL's switch interval, the time a worker thread may already keep the loop waiting for the GIL, so a
#: request scored on the loop holds the others up no longer than any scoring thread can.
LOOP_SECONDS = sys.getswitchinterval()


class ServedModel:
    """A loaded detector, its metadata and a cache of threshold overrides."""

    def __init__(self, name: str, detector, saved: Mapping[str, Any] | None = None) -> None:
        self.name, self.detector = name, detector
        self.saved = dict(saved or {})
        self.thresholds: dict[str, ThresholdRule] = {}
        self._default = RowScoringCore(detector)
        self.columns, self.numeric = self._default.columns, self._default.numeric  # made once, not per request
        self.loop_seconds = _loop_cost(self._default, len(self.columns))

    def scores_on_loop(self, body: bytes) -> bool:
        """Whether a JSON request with ``body`` is scored on the event loop rather than in a worker
        thread: a body of at most :data:`LOOP_BODY_BYTES` that does not override the threshold (a new
        rule text is fitted on the calibration scores, whose number grows with the training data), to
        a model whose cost for the most rows such a body can hold, scored and explained, was under
        :data:`LOOP_SECONDS` when it was loaded."""
        return len(body) <= LOOP_BODY_BYTES and b'"threshold"' not in body and self.loop_seconds < LOOP_SECONDS

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
        if override is None:
            return self._default
        if not isinstance(override, str):
            return RowScoringCore(self.detector, threshold=override)
        rule = self.thresholds.get(override)
        if rule is None:
            rule = RowScoringCore(self.detector, threshold=override).rule
            if len(self.thresholds) > 256:
                self.thresholds.clear()
            self.thresholds[override] = rule
        return RowScoringCore(self.detector, threshold=rule)  # the local rule: another thread may clear the cache


def _loop_cost(core: RowScoringCore, n_columns: int) -> float:
    """Seconds (median of 5, after one untimed call) to check, score and explain as many rows as a
    body of :data:`LOOP_BODY_BYTES` can hold (every value takes at least 2 bytes of JSON), given as a
    table (the slower of the two ways a request's rows go, :func:`aedetect.serve.columns.request_rows`),
    with the most features an explanation lists; infinity for a model that refuses rows of zeros,
    which is then never scored on the loop."""
    rows = max(1, LOOP_BODY_BYTES // (2 * max(1, n_columns)))
    table = pd.DataFrame(np.zeros((rows, n_columns)), columns=core.columns)
    times = []
    try:
        for _ in range(6):
            start = time.perf_counter()
            with np.errstate(over="ignore"):
                features = core.features(table)
                core.score_features(features)
                core.explain(features, np.arange(rows), MAX_TOP_FEATURES)
            times.append(time.perf_counter() - start)
    except _SCORING_ERRORS as error:  # such a model is simply not scored on the loop
        logger.debug("Rows of zeros could not be scored (%s): every request goes to a worker thread.", error)
        return math.inf
    return statistics.median(times[1:])


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
    return float(value) if isinstance(value, int | float) and np.isfinite(value) else None


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


def _unprocessable(error: Exception) -> HTTPException:
    return HTTPException(422, " ".join(str(error).split())[:2000])


def _scored(core: RowScoringCore, features) -> ScoredRows:
    """Scores and flags; a score that is not finite is refused by the detector (a 422 naming the row)."""
    with np.errstate(over="ignore"):
        return core.score_features(features)


def score_json(
    served: ServedModel,
    body: bytes,
    max_rows: int,
    metrics: ServiceMetrics,
    batcher: SmallRequestBatcher | None,
) -> Response:
    """Answer a JSON scoring request (``ScoreResponse``); raise a 4xx for anything wrong with it.
    Small requests are scored together with those that arrive at the same time (``batcher``; None on
    the event loop, which must not wait for a batch)."""
    rows = request_rows(body, served.columns, served.numeric, max_rows)
    try:
        core = served.core(rows.threshold)
        if isinstance(rows.features, pd.DataFrame):
            features = core.features(rows.features)
        else:  # plain numbers, read in the model's column order: scored as they are
            core.check_columns(served.columns)
            features = rows.features
        with np.errstate(over="ignore"):
            scored = batcher.score(core, features) if batcher is not None else core.score_features(features)
        flagged = np.flatnonzero(scored.flags)
        explanations = []
        if rows.top_features and len(flagged):
            for row, parts in zip(flagged, core.explain(features, flagged, rows.top_features), strict=True):
                top = [{"feature": c.feature, "error": c.error, "contribution": c.contribution} for c in parts]
                explanations.append({"row": int(row), "top_features": top})
    except _SCORING_ERRORS as error:
        raise _unprocessable(error) from None
    metrics.scored(served.name, scored, core.threshold)
    answer = {
        "model": served.name,
        "threshold": core.threshold,
        "scores": scored.scores.astype(np.float64, copy=False),
        "is_anomaly": scored.flags.astype(np.int64, copy=False),
        "n_flagged": scored.flagged,
        "explanations": explanations,
    }
    return Response(orjson.dumps(answer, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/json")


def score_bulk(
    served: ServedModel, body: bytes, media: str, threshold, max_rows: int, metrics: ServiceMetrics
) -> Response:
    """Answer a bulk request: an Arrow IPC stream (or Parquet file) in, the same format out with the
    columns ``score`` and ``is_anomaly``; the threshold and the flagged count in headers."""
    table = _read_table(body, media)
    if table.num_rows > max_rows:
        raise HTTPException(
            413, f"{table.num_rows} rows is more than this server scores per bulk request ({max_rows}); split them."
        )
    if table.num_rows == 0:
        raise HTTPException(422, "There are no rows to score.")
    try:
        core = served.core(threshold)
        scored = _scored(core, core.features(table))
    except _SCORING_ERRORS as error:
        raise _unprocessable(error) from None
    metrics.scored(served.name, scored, core.threshold)
    out = pa.table({"score": scored.scores.astype(np.float64, copy=False), "is_anomaly": scored.flags.astype(np.int8)})
    headers = {"X-Threshold": repr(core.threshold), "X-Rows-Flagged": str(scored.flagged)}
    return Response(_write_table(out, media), media_type=media, headers=headers)


def _read_table(body: bytes, media: str) -> pa.Table:
    what = "an Arrow IPC stream" if media == ARROW_STREAM else "a Parquet file"
    try:
        if media == ARROW_STREAM:
            return pa.ipc.open_stream(pa.py_buffer(body)).read_all()
        import pyarrow.parquet as pq

        return pq.read_table(pa.BufferReader(body))
    except (pa.ArrowException, OSError, ValueError) as error:
        first = (str(error).splitlines() or ["unreadable"])[0][:200]
        raise HTTPException(400, f"The body is not {what} ({first}); send the rows as {what}.") from None


def _write_table(table: pa.Table, media: str) -> bytes:
    sink = pa.BufferOutputStream()
    if media == ARROW_STREAM:
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
    else:
        import pyarrow.parquet as pq

        pq.write_table(table, sink)
    return sink.getvalue().to_pybytes()


__all__ = ["ServedModel", "load_models", "score_json", "score_bulk", "ARROW_STREAM", "PARQUET", "BULK_MEDIA_TYPES"]
