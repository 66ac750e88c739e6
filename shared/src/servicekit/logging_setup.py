"""Structured-enough logging with a correlation id carried from request to task to event."""

from __future__ import annotations

import logging
import uuid
from contextvars import ContextVar

from flask import Flask, Response, request

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


def install_correlation_id(app: Flask) -> None:
    """Take the caller's X-Correlation-ID (or make one) and echo it on the response."""

    @app.before_request
    def _take() -> None:
        incoming = request.headers.get(CORRELATION_HEADER, "")
        value = incoming if 0 < len(incoming) <= 64 else new_correlation_id()
        correlation_id.set(value)

    @app.after_request
    def _echo(response: Response) -> Response:
        response.headers[CORRELATION_HEADER] = correlation_id.get()
        return response
