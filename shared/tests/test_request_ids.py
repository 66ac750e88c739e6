"""Request ids: every response carries X-Request-ID (the caller's when sane, else a new one), and
log lines are JSON objects carrying it."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest
from flask import Flask
from servicekit.flask_app import install_correlation_id
from servicekit.logging_setup import (
    JsonFormatter,
    configure_logging,
    correlation_id,
    sane_request_id,
)

FRESH = re.compile(r"[0-9a-f]{32}")


@pytest.fixture
def client():
    app = Flask(__name__)
    install_correlation_id(app)

    @app.get("/seen")
    def seen() -> dict[str, str]:
        return {"id": correlation_id.get()}

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    return app.test_client()


def test_the_callers_request_id_is_used_and_echoed(client):
    response = client.get("/seen", headers={"X-Request-ID": "trace-42.a_B"})
    assert response.headers["X-Request-ID"] == "trace-42.a_B"
    assert response.json == {"id": "trace-42.a_B"}


def test_without_one_a_fresh_id_is_made_for_each_response(client):
    first, second = client.get("/seen"), client.get("/seen")
    assert FRESH.fullmatch(first.headers["X-Request-ID"])
    assert first.headers["X-Request-ID"] != second.headers["X-Request-ID"]
    assert client.get("/nowhere").headers["X-Request-ID"]  # a 404 too
    assert FRESH.fullmatch(client.get("/boom").headers["X-Request-ID"])  # and a 500


@pytest.mark.parametrize("bad", ["", "-", "x" * 65, "has space", "new\\nline", "é", "a/b"])
def test_an_insane_id_is_replaced(client, bad):
    response = client.get("/seen", headers={"X-Request-ID": bad})
    assert FRESH.fullmatch(response.headers["X-Request-ID"])


def test_older_callers_x_correlation_id_is_still_taken_and_echoed(client):
    response = client.get("/seen", headers={"X-Correlation-ID": "old-caller-1"})
    assert response.headers["X-Request-ID"] == "old-caller-1"
    assert response.headers["X-Correlation-ID"] == "old-caller-1"
    both = client.get("/seen", headers={"X-Request-ID": "new", "X-Correlation-ID": "old"})
    assert both.headers["X-Request-ID"] == "new"


def test_sane_request_id():
    assert sane_request_id("a" * 64) == "a" * 64
    assert sane_request_id("a" * 65) is None
    assert sane_request_id(None) is None


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    configure_logging("INFO", "test-service")
    out = io.StringIO()
    root.handlers[0].setStream(out)  # type: ignore[attr-defined]
    yield out
    root.handlers[:] = handlers
    root.setLevel(level)


def test_log_lines_are_json_objects_with_the_context_id_or_their_own(json_log):
    log = logging.getLogger("servicekit.test")
    token = correlation_id.set("req-1")
    try:
        log.info("decided %s", "r1", extra={"request_id": "r1", "status": "accepted"})
        log.info("for another", extra={"correlation_id": "req-2"})
        try:
            raise ValueError("bad")
        except ValueError:
            log.exception("failed")
    finally:
        correlation_id.reset(token)
    log.debug("not at INFO")
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    assert len(lines) == 3
    first = lines[0]
    assert first["message"] == "decided r1" and first["level"] == "INFO"
    assert first["logger"] == "servicekit.test" and first["service"] == "test-service"
    assert first["correlation_id"] == "req-1" and first["request_id"] == "r1"
    assert first["status"] == "accepted" and first["time"].endswith("+00:00")
    assert lines[1]["correlation_id"] == "req-2"
    assert "ValueError: bad" in lines[2]["exc_info"]


def test_a_line_outside_any_request_has_the_placeholder():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello", None, None)
    assert json.loads(JsonFormatter("svc").format(record))["correlation_id"] == "-"
