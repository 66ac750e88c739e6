"""``/healthz`` (the process answers) and ``/readyz`` (its database and Redis answer)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from servicekit.errors import error_body

Check = Callable[[], object]  # raises when its dependency is unreachable; the value is ignored


def health_blueprint(checks: Mapping[str, Check]) -> Blueprint:
    """Each check raises when its dependency is unreachable."""
    blueprint = Blueprint("health", __name__)

    @blueprint.get("/healthz")
    def healthz() -> ResponseReturnValue:
        return jsonify(status="ok")

    @blueprint.get("/readyz")
    def readyz() -> ResponseReturnValue:
        results: dict[str, str] = {}
        for name, check in checks.items():
            try:
                check()
                results[name] = "ok"
            except Exception as exc:  # any failure means "not ready", with the reason shown
                results[name] = f"unavailable: {type(exc).__name__}"
        if all(value == "ok" for value in results.values()):
            return jsonify(status="ready", checks=results)
        failing = ", ".join(name for name, value in results.items() if value != "ok")
        body = error_body("not_ready", f"Not ready: {failing} unreachable.")
        return jsonify(body | {"checks": results}), 503

    return blueprint
