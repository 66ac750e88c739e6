"""The Flask handlers that turn every error into the envelope of :mod:`servicekit.errors`."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from flask import Flask, Response, has_request_context, jsonify, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

from servicekit.auth import AuthError
from servicekit.errors import _CODES, ApiError, FieldErrors, error_body, flatten_messages

log = logging.getLogger(__name__)


def error_response(
    status: int, code: str, message: str, fields: FieldErrors | None = None
) -> Response:
    response = jsonify(error_body(code, message, fields))
    response.status_code = status
    return response


def _validation_fields(exc: HTTPException) -> FieldErrors | None:
    data = getattr(exc, "data", None) or {}
    messages = data.get("messages")
    if not isinstance(messages, Mapping):
        return None
    fields: FieldErrors = {}
    for location_messages in messages.values():  # locations: json, query, headers, ...
        if isinstance(location_messages, Mapping):
            fields.update(flatten_messages(location_messages))
        elif isinstance(location_messages, list | tuple):  # the body as a whole: not JSON
            fields.setdefault("body", []).extend(str(message) for message in location_messages)
    return fields


_MESSAGES = {
    404: "There is nothing at this address; check the path.",
    405: "This address does not take that method; the Allow header lists those it takes.",
    413: "The request body is too large.",
}


def _handle_http_exception(exc: HTTPException) -> Response:
    status = exc.code or 500
    fields = _validation_fields(exc)
    if fields is not None and status == 400:  # webargs: the body could not be parsed at all
        response = error_response(
            status, "malformed_body", "The request body is not valid JSON.", fields
        )
    elif fields is not None:
        response = error_response(
            status, "validation_error", "Some fields are missing or invalid.", fields
        )
    else:
        message = _MESSAGES.get(status) or exc.description or exc.name
        # The request's own limit: an endpoint may allow more than MAX_CONTENT_LENGTH.
        limit = request.max_content_length if has_request_context() else None
        if status == 413 and limit:
            message = f"The request body is larger than {limit:,} bytes."
        response = error_response(status, _CODES.get(status, "http_error"), message)
    for name, value in exc.get_headers():  # Allow on a 405, Retry-After, ...
        if name.lower() != "content-type":
            response.headers[name] = value
    for name, value in ((getattr(exc, "data", None) or {}).get("headers") or {}).items():
        response.headers[name] = value
    return response


def _handle_api_error(exc: ApiError) -> Response:
    return error_response(exc.status, exc.code, exc.message, exc.fields)


def _handle_auth_error(exc: AuthError) -> Response:
    response = error_response(exc.status, exc.code, exc.message)
    if exc.status == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    return response


def _handle_database_unavailable(exc: OperationalError) -> Response:
    """The database went away (restart, failover, dropped connection): the pool has discarded
    the connection, and the same request will most likely succeed in a moment."""
    log.warning("database unavailable: %s", exc.orig)
    response = error_response(
        503, "database_unavailable", "The database is unavailable; try again in a moment."
    )
    response.headers["Retry-After"] = "1"
    return response


def _handle_unexpected(exc: Exception) -> Response:
    log.exception("unhandled error", exc_info=exc)
    return error_response(
        500, "internal_error", "Something went wrong on our side; try again shortly."
    )


def install_error_handlers(app: Flask) -> None:
    """Register after flask-smorest's ``Api`` so these handlers replace its own."""
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(ApiError, _handle_api_error)
    app.register_error_handler(AuthError, _handle_auth_error)
    app.register_error_handler(OperationalError, _handle_database_unavailable)
    app.register_error_handler(Exception, _handle_unexpected)
