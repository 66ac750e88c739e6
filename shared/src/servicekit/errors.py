"""The error envelope every service answers with (framework-free; the Flask handlers that
produce it are in :mod:`servicekit.flask_errors`).

``{"error": {"code": "snake_case", "message": "...", "fields": {"field": ["message"]}}}``
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FieldErrors = dict[str, list[str]]


class ApiError(Exception):
    """An error meant for the caller: raise it anywhere below a view."""

    def __init__(
        self, status: int, code: str, message: str, fields: FieldErrors | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields


def error_body(code: str, message: str, fields: FieldErrors | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}


def flatten_messages(messages: Mapping[Any, Any], prefix: str = "") -> FieldErrors:
    """Turn webargs' nested messages into ``{"sections.0.capacity": ["..."]}``.

    Marshmallow files errors about a whole object under ``_schema``; they are named after the
    object (``guardian``), or ``body`` for the request body itself.
    """
    flat: FieldErrors = {}
    for key, value in messages.items():
        name = _field_name(prefix, key)
        if isinstance(value, Mapping):
            flat.update(flatten_messages(value, name))
        elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
            flat[name] = list(value)
        elif isinstance(value, list | tuple):
            for index, item in enumerate(value):
                if isinstance(item, Mapping):
                    flat.update(flatten_messages(item, f"{name}.{index}"))
                else:
                    flat.setdefault(name, []).append(str(item))
        else:
            flat[name] = [str(value)]
    return flat


def _field_name(prefix: str, key: object) -> str:
    if key == "_schema":
        return prefix or "body"
    return f"{prefix}.{key}" if prefix else str(key)


# The code an HTTP error status answers with when nothing more specific applies.
_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
}
