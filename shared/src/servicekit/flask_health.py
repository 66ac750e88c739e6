"""``/healthz`` (the process answers) and ``/readyz`` (its database and Redis answer, plus any
check a service adds with :func:`add_readiness_check`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from flask import Blueprint, Flask, current_app, jsonify
from flask.typing import ResponseReturnValue

from servicekit.errors import error_body

Check = Callable[[], object]  # raises when its dependency is unreachable; the value is ignored
EXTRA_CHECKS = "health.extra_checks"


class NotReady(Exception):
    """Raised by a check with its own reason, shown as is (other failures show their type)."""


def add_readiness_check(app: Flask, name: str, check: Check) -> None:
    """Add a service's own check to ``/readyz`` after the app is built, so the shared app factory
    stays the same for every service."""
    app.extensions.setdefault(EXTRA_CHECKS, {})[name] = check


def health_blueprint(checks: Mapping[str, Check]) -> Blueprint:
    """Each check raises when its dependency is unreachable."""
    blueprint = Blueprint("health", __name__)

    @blueprint.get("/healthz")
    def healthz() -> ResponseReturnValue:
        return jsonify(status="ok")

    @blueprint.get("/readyz")
    def readyz() -> ResponseReturnValue:
        results: dict[str, str] = {}
        for name, check in {**checks, **current_app.extensions.get(EXTRA_CHECKS, {})}.items():
            try:
                check()
                results[name] = "ok"
            except NotReady as exc:
                results[name] = str(exc)
            except Exception as exc:  # any failure means "not ready", with the reason shown
                results[name] = f"unavailable: {type(exc).__name__}"
        if all(value == "ok" for value in results.values()):
            return jsonify(status="ready", checks=results)
        failing = ", ".join(name for name, value in results.items() if value != "ok")
        body = error_body("not_ready", f"Not ready: {failing} failing.")
        return jsonify(body | {"checks": results}), 503

    return blueprint
