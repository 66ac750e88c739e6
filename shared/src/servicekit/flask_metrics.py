"""``GET /metrics`` (Prometheus text format, no token) and every request timed.

Requests are labelled by their Flask endpoint (the route, never the raw path, so ids do not
explode the series), method and status; a path matching no route is ``endpoint="none"``.
``/metrics`` is a plain blueprint, outside the OpenAPI document, like ``/healthz``. A service
adds what its scrape should compute (queue depth, backlog) with :func:`add_scrape_collectors`.
See :mod:`servicekit.metrics` for multiprocess mode (``PROMETHEUS_MULTIPROC_DIR``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import Counter, Histogram
from prometheus_client.registry import Collector

from servicekit.metrics import CONTENT_TYPE, exposition, mark_process_started

COLLECTORS = "servicekit.metrics.collectors"
METRICS_ENDPOINT = "metrics.metrics"

LABELS = ["endpoint", "method", "status"]
REQUESTS = Counter("http_requests", "HTTP requests answered.", LABELS)
LATENCY = Histogram(
    "http_request_duration_seconds",
    "Time from the request's arrival in Flask to its response.",
    LABELS,
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)


def install_metrics(app: Flask) -> None:
    """Time every request (install before auth, so refusals are timed too) and serve
    ``/metrics``."""
    app.extensions[COLLECTORS] = []
    mark_process_started(app.import_name.split(".")[0].removesuffix("_service") + "-web")

    @app.before_request
    def _start() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def _observe(response: Response) -> Response:
        started = g.get("metrics_started")
        if started is not None:
            labels = (request.endpoint or "none", request.method, str(response.status_code))
            LATENCY.labels(*labels).observe(time.perf_counter() - started)
            REQUESTS.labels(*labels).inc()
        return response

    app.register_blueprint(metrics_blueprint())


def add_scrape_collectors(app: Flask, collectors: Iterable[Collector]) -> None:
    """Collectors read at each scrape of this app's ``/metrics``."""
    app.extensions[COLLECTORS].extend(collectors)


def metrics_blueprint() -> Blueprint:
    blueprint = Blueprint("metrics", __name__)

    @blueprint.get("/metrics")
    def metrics() -> Response:
        body = exposition(current_app.extensions.get(COLLECTORS, []))
        return Response(body, status=200, headers={"Content-Type": CONTENT_TYPE})

    return blueprint
