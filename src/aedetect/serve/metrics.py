"""Prometheus metrics of the service (``GET /metrics``, the text format of ``prometheus_client``).

- ``aedetect_requests_total{endpoint, model, status}``: every answered request;
- ``aedetect_request_errors_total{endpoint, model, status}``: those answered with a 4xx or 5xx;
- ``aedetect_request_duration_seconds{endpoint, model}``: latency histogram;
- ``aedetect_rows_scored_total{model}`` and ``aedetect_rows_flagged_total{model}``;
- ``aedetect_score_to_threshold{model}``: histogram of each scored row's score divided by the
  threshold that flagged it (above 1 = flagged), so that one set of buckets fits every model.

``endpoint`` is the route's template (``/models/{name}/score``), never the raw path, and ``model`` is
a served model's name or empty: a client cannot create new series by sending new paths or names.
Each app has its own registry, so several apps in one process (tests) do not share counts.

Several worker processes (``uvicorn --workers``, gunicorn) count together in ``prometheus_client``'s
multiprocess mode: with ``PROMETHEUS_MULTIPROC_DIR`` set to an empty directory before the workers
start, every worker writes its counts there and ``/metrics``, whichever worker answers it, gives
the sums over all of them.
"""

from __future__ import annotations

import os
import time

import numpy as np
from prometheus_client import CollectorRegistry, Counter, Histogram, multiprocess, values
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

#: Buckets of score / threshold: fine around 1, where the flag flips.
RATIO_BUCKETS = (0.25, 0.5, 0.75, 0.9, 1.0, 1.1, 1.25, 1.5, 2.0, 5.0, 10.0)
_RATIO_EDGES = np.asarray(RATIO_BUCKETS)  # an array once: searchsorted on a tuple converts it per call
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
MULTIPROCESS_DIRECTORY = "PROMETHEUS_MULTIPROC_DIR"
#: Requests of up to this many rows count their scores with Histogram.observe, one call per row.
FEW_ROWS = 8


def multiprocess_directory() -> str | None:
    """The directory of multiprocess mode, or None in one process.

    prometheus_client chooses where its values live when it is first imported, from the environment
    variable; the mode is the one it chose, and its directory must exist before any metric is made.
    """
    if values.ValueClass is values.MutexValue:
        return None
    directory = os.environ.get(MULTIPROCESS_DIRECTORY) or os.environ.get(MULTIPROCESS_DIRECTORY.lower(), "")
    if not os.path.isdir(directory):
        raise ValueError(
            f"{MULTIPROCESS_DIRECTORY}={directory!r} is not a directory; create it (empty) before starting the "
            "workers, or unset it to count in one process."
        )
    return directory


class _ScoreHistogram:
    """Score-to-threshold histogram per model: requests of more than :data:`FEW_ROWS` rows are counted
    with NumPy, one call per request rather than one ``observe`` per row. It is a ``prometheus_client``
    Histogram, so multiprocess mode sums it too."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.histogram = Histogram(
            "aedetect_score_to_threshold",
            "Scored rows by score divided by the threshold that flagged them (above 1 = flagged).",
            ["model"],
            buckets=RATIO_BUCKETS,
            registry=registry,
        )
        self.children: dict[str, Histogram] = {}

    def observe(self, model: str, ratios: np.ndarray) -> None:
        child = self.children.get(model)
        if child is None:
            child = self.children[model] = self.histogram.labels(model)
        if len(ratios) <= FEW_ROWS:  # a few rows: Histogram.observe each, cheaper than the arrays below
            for ratio in ratios.tolist():
                child.observe(ratio)
            return
        # Bucket i counts ratios <= RATIO_BUCKETS[i] not counted by a lower one (the last: the rest),
        # as Histogram.observe does for one value.
        counts = np.bincount(_RATIO_EDGES.searchsorted(ratios, side="left"), minlength=len(RATIO_BUCKETS) + 1)
        # A Histogram keeps one value per bucket (made cumulative when collected) and the sum; adding the
        # request's counts to them is what observe() would do row by row (in multiprocess mode they are
        # the process's file). Histogram offers no public call that adds many observations at once.
        for value, count in zip(child._buckets, counts.tolist(), strict=True):
            if count:
                value.inc(count)
        child._sum.inc(float(ratios.sum()))


class ServiceMetrics:
    """The metrics of one app, in their own registry (in multiprocess mode, in the shared directory)."""

    def __init__(self) -> None:
        self.multiprocess_directory = multiprocess_directory()
        self.registry = CollectorRegistry(auto_describe=True)
        labels = ["endpoint", "model", "status"]
        self.requests = Counter("aedetect_requests", "Requests answered.", labels, registry=self.registry)
        self.errors = Counter(
            "aedetect_request_errors", "Requests answered with a 4xx or 5xx.", labels, registry=self.registry
        )
        self.latency = Histogram(
            "aedetect_request_duration_seconds",
            "Time from receiving a request to the end of its answer.",
            ["endpoint", "model"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.rows = Counter("aedetect_rows_scored", "Rows scored.", ["model"], registry=self.registry)
        self.flagged = Counter("aedetect_rows_flagged", "Rows flagged as anomalies.", ["model"], registry=self.registry)
        self.scores = _ScoreHistogram(self.registry)
        self._per_model: dict[str, tuple] = {}  # each model's and each answer's series, looked up once
        self._per_answer: dict[tuple, tuple] = {}

    def scored(self, model: str, scored, threshold: float) -> None:
        """Count a request's scored rows, its flagged rows and their scores."""
        counters = self._per_model.get(model)
        if counters is None:  # labels() takes a lock and builds a key: once per model, not per request
            counters = self._per_model[model] = (self.rows.labels(model), self.flagged.labels(model))
        counters[0].inc(len(scored.scores))
        counters[1].inc(scored.flagged)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            ratios = np.asarray(scored.scores, dtype=np.float64) / threshold if threshold > 0 else scored.scores
        ratios = np.asarray(ratios, dtype=np.float64)
        if np.isnan(ratios).any():  # scores are finite; NaN only from a NaN in what was passed here
            ratios = np.nan_to_num(ratios, posinf=np.inf)
        self.scores.observe(model, ratios)

    def answered(self, endpoint: str, model: str, status: int, seconds: float) -> None:
        key = (endpoint, model, status)  # few keys: route templates, served models' names, statuses
        series = self._per_answer.get(key)
        if series is None:
            labels = (endpoint, model, str(status))
            errors = self.errors.labels(*labels) if status >= 400 else None
            series = self._per_answer[key] = (
                self.requests.labels(*labels),
                errors,
                self.latency.labels(endpoint, model),
            )
        series[0].inc()
        if series[1] is not None:
            series[1].inc()
        series[2].observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        if self.multiprocess_directory is None:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        every_worker = CollectorRegistry()  # read from the files of all processes, per request
        multiprocess.MultiProcessCollector(every_worker, path=self.multiprocess_directory)
        return generate_latest(every_worker), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Counts every answered request (the outermost layer, so refusals of the body limit count too)."""

    def __init__(self, app, metrics: ServiceMetrics, router, models, default: str) -> None:
        self.app, self.metrics, self.router = app, metrics, router
        self.models, self.default = models, default

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.perf_counter(), 500

        async def watch(message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            endpoint, model = self._labels(scope)
            self.metrics.answered(endpoint, model, status, time.perf_counter() - started)

    def _labels(self, scope) -> tuple[str, str]:
        route = scope.get("route")
        if route is None:  # answered before routing (the body limit): find the route it was for
            from starlette.routing import Match

            route = next((r for r in self.router.routes if r.matches(scope)[0] == Match.FULL), None)
            params = route.matches(scope)[1].get("path_params", {}) if route is not None else {}
        else:
            params = scope.get("path_params", {})
        endpoint = getattr(route, "path", "unmatched")
        name = params.get("name")
        if name is not None:
            return endpoint, name if name in self.models else ""
        return endpoint, self.default if endpoint in ("/score", "/score/bulk", "/model") else ""


__all__ = ["ServiceMetrics", "MetricsMiddleware", "CONTENT_TYPE_LATEST"]
