"""The lottery worker's Celery app: ``celery -A lottery_service.worker.celery_app worker
-Q lottery.solve --pool solo``. One run at a time per process: a solve takes a core."""

from __future__ import annotations

from typing import Any

from celery.signals import setup_logging, worker_init
from servicekit.logging_setup import configure_logging
from servicekit.metrics import serve_metrics_if_asked

from lottery_service.messaging import make_celery
from lottery_service.settings import get_settings

app = make_celery(get_settings())
app.conf.imports = ["lottery_service.worker.tasks"]


@setup_logging.connect
def _json_lines(**_: Any) -> None:
    """Instead of Celery's own logging: one JSON object per line (LOG_LEVEL)."""
    configure_logging(get_settings().log_level, "lottery-worker")


@worker_init.connect
def _metrics(**_: Any) -> None:
    """Run durations and gaps on METRICS_PORT, when set (a container scraped by itself)."""
    serve_metrics_if_asked("lottery-worker")
