"""Request ids, the context variable that holds one, and logging as JSON lines.

What is true today, exactly:
- The web sets it per request (``servicekit.flask_app.install_correlation_id``): the caller's
  ``X-Request-ID`` when it is sane (1 to 64 characters of ``A-Z a-z 0-9 . _ -``), else the
  caller's ``X-Correlation-ID`` (older callers) under the same rule, else a new one. Every
  response carries it as ``X-Request-ID`` (and as ``X-Correlation-ID``, for older callers).
- An :class:`servicekit.events.Event` takes the id current where it is built, so an event built
  while serving a request (a profile completed, a catalog change) carries that request's id.
- A registration request keeps its id on its row, so its outcome event, decided later in a
  batch by a partition worker, carries it too, as does the worker's log line for the decision.
- :func:`configure_logging` writes one JSON object per line: ``time``, ``level``, ``logger``,
  ``message``, ``service``, ``correlation_id`` (a record's own, given as ``extra``, else the
  context's) and any other ``extra`` fields. Never log personal data: ids, not names or emails.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

REQUEST_ID_HEADER = "X-Request-ID"
CORRELATION_HEADER = "X-Correlation-ID"  # the header older callers send; still accepted
NO_CORRELATION = "-"
correlation_id: ContextVar[str] = ContextVar("correlation_id", default=NO_CORRELATION)

_SANE = re.compile(r"[A-Za-z0-9._-]{1,64}")

# What every LogRecord has: anything else on a record came as ``extra`` and is logged too.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "correlation_id",
    "taskName",
}


def sane_request_id(value: str | None) -> str | None:
    """``value`` when it may serve as a request id (1 to 64 of ``[A-Za-z0-9._-]``, not the
    placeholder ``-``), else None."""
    if value is None or value == NO_CORRELATION:
        return None
    return value if _SANE.fullmatch(value) else None


def current_correlation_id() -> str | None:
    """The id of the request being served, or None outside of one."""
    value = correlation_id.get()
    return None if value == NO_CORRELATION else value


class CorrelationIdFilter(logging.Filter):
    """Gives a record the context's id unless it came with its own (``extra``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "correlation_id", None) is None:
            record.correlation_id = correlation_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "service": self.service,
            "correlation_id": getattr(record, "correlation_id", None) or correlation_id.get(),
        }
        for name, value in record.__dict__.items():
            if name not in _STANDARD and not name.startswith("_"):
                line[name] = value
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(line, default=str, separators=(",", ":"))


def configure_logging(level: str = "INFO", service: str = "service") -> None:
    """Every log line of this process to stderr as JSON (replacing the root's handlers)."""
    handler = logging.StreamHandler()
    handler.addFilter(CorrelationIdFilter())
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


def new_correlation_id() -> str:
    return uuid.uuid4().hex
