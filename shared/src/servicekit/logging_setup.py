"""Logging with a correlation id, and the context variable that holds it.

What is true today, exactly:
- The web sets it per request: the caller's ``X-Correlation-ID`` (up to 64 characters) or a new
  one, echoed on the response (``servicekit.flask_app.install_correlation_id``).
- An :class:`servicekit.events.Event` takes the id current where it is built, so an event built
  while serving a request (a profile completed, a catalog change) carries that request's id.
- It goes no further: a Celery task is sent without it and a consumer does not restore it from
  an event, so events built in a worker (decision outcomes) carry ``-``.
- Log lines show it only in processes that call :func:`configure_logging` (today the relays,
  where it is ``-``); the web processes leave logging to gunicorn and Flask.
"""

from __future__ import annotations

import logging
import uuid
from contextvars import ContextVar

CORRELATION_HEADER = "X-Correlation-ID"
correlation_id: ContextVar[str] = ContextVar("correlation_id", default="-")


class CorrelationIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = correlation_id.get()
        return True


def configure_logging(level: str = "INFO", service: str = "service") -> None:
    handler = logging.StreamHandler()
    handler.addFilter(CorrelationIdFilter())
    handler.setFormatter(
        logging.Formatter(
            f"%(asctime)s %(levelname)s {service} [%(correlation_id)s] %(name)s: %(message)s"
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def new_correlation_id() -> str:
    return uuid.uuid4().hex
