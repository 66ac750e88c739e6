"""What every service's app factory does the same way: OpenAPI, errors, auth, health, logging."""

from __future__ import annotations

from typing import Any

from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.openapi import OpenAPIConverter
from flask import Flask, Response, request
from flask.json.provider import DefaultJSONProvider
from flask_smorest import Api
from marshmallow import Schema, fields
from redis import Redis
from sqlalchemy import Engine

from servicekit.auth import KeySet, TokenVerifier
from servicekit.db import ping_database
from servicekit.domain_errors import Conflict, InvalidInput, NotFound
from servicekit.flask_api import MAX_DEPTH_CONFIG, IdConverter, id_converter_schema
from servicekit.flask_auth import install_auth
from servicekit.flask_errors import error_response, install_error_handlers
from servicekit.flask_health import health_blueprint
from servicekit.flask_metrics import install_metrics
from servicekit.logging_setup import (
    CORRELATION_HEADER,
    NO_CORRELATION,
    REQUEST_ID_HEADER,
    correlation_id,
    new_correlation_id,
    sane_request_id,
)
from servicekit.settings import ServiceSettings


class ErrorDetailSchema(Schema):
    code = fields.String(metadata={"description": "A stable snake_case code."})
    message = fields.String(metadata={"description": "A sentence a person can act on."})
    fields_ = fields.Dict(
        data_key="fields",
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "For validation errors (422): each bad field's messages."},
    )


class ErrorSchema(Schema):
    """The error envelope every 4xx/5xx answer carries."""

    error = fields.Nested(ErrorDetailSchema)


class ServiceApi(Api):  # type: ignore[misc]  # flask-smorest is untyped: Any
    """Every error status an operation can answer is documented on it (see
    ``ServiceBlueprint``); there is no catch-all ``default`` response."""

    ERROR_SCHEMA = ErrorSchema
    DEFAULT_ERROR_RESPONSE_NAME = None


class _Converter(OpenAPIConverter):
    """A schema's ``Meta.openapi_extra`` (JSON Schema keywords marshmallow cannot express, such
    as ``propertyNames`` for a body keyed by ids) is merged into its generated document."""

    def schema2jsonschema(self, schema: Any) -> dict[str, Any]:
        document: dict[str, Any] = super().schema2jsonschema(schema)  # type: ignore[no-untyped-call]
        document.update(getattr(getattr(schema, "Meta", None), "openapi_extra", {}))
        return document


class _MarshmallowPlugin(MarshmallowPlugin):
    Converter = _Converter


BEARER_SCHEME = {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}


def create_service_app(
    import_name: str,
    title: str,
    settings: ServiceSettings,
    engine: Engine,
    redis: Redis,
    keys: KeySet | None = None,
) -> tuple[Flask, Api]:
    """A Flask app with a flask-smorest ``Api`` serving ``/openapi.json``, the error envelope,
    bearer-token auth on every non-public endpoint, ``/healthz``, and ``/readyz`` checking the
    service's database and Redis. The use cases' ``NotFound`` and ``InvalidInput`` become 404
    and 422, ``Conflict`` 409. Tokens are verified against ``keys``, by default the identity
    service's JWKS as the settings name it (``JWT_JWKS_URL``, ``JWT_JWKS``, ``JWT_JWKS_FILE``)."""
    app = Flask(import_name)
    app.config.update(
        API_TITLE=title,
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        MAX_CONTENT_LENGTH=settings.max_body_bytes,
        **{MAX_DEPTH_CONFIG: settings.max_json_depth},
    )
    # Answers keep the schemas' field order. Flask 3 ignores the old JSON_SORT_KEYS setting;
    # sorting belongs to the app's JSON provider.
    if isinstance(app.json, DefaultJSONProvider):
        app.json.sort_keys = False
    app.url_map.converters["id"] = IdConverter
    api = ServiceApi(
        app,
        spec_kwargs={
            "marshmallow_plugin": _MarshmallowPlugin(),
            "components": {"securitySchemes": BEARER_SCHEME},
            "security": [{"bearerAuth": []}],
        },
    )
    api.register_converter(IdConverter, id_converter_schema)
    install_error_handlers(app)
    install_metrics(app)  # GET /metrics; times every request, refusals included

    @app.errorhandler(NotFound)
    def _not_found(exc: NotFound) -> Response:
        return error_response(404, exc.code, exc.message)

    @app.errorhandler(Conflict)
    def _conflict(exc: Conflict) -> Response:
        return error_response(409, exc.code, exc.message)

    @app.errorhandler(InvalidInput)
    def _invalid(exc: InvalidInput) -> Response:
        return error_response(422, "validation_error", "Some fields are invalid.", exc.fields)

    install_correlation_id(app)
    keys = keys or KeySet.from_settings(
        settings.jwt_jwks_url, settings.jwt_jwks, settings.jwt_jwks_file
    )
    install_auth(app, TokenVerifier(keys, settings.jwt_issuer, settings.jwt_audience))
    app.register_blueprint(
        health_blueprint({"database": lambda: ping_database(engine), "redis": redis.ping})
    )
    return app, api


def install_correlation_id(app: Flask) -> None:
    """Take the caller's X-Request-ID (else an older caller's X-Correlation-ID; either only when
    sane) or make a new one for this request, and echo it on every response as X-Request-ID (and
    X-Correlation-ID); see :mod:`servicekit.logging_setup` for how far it travels."""

    @app.before_request
    def _take() -> None:
        value = sane_request_id(request.headers.get(REQUEST_ID_HEADER)) or sane_request_id(
            request.headers.get(CORRELATION_HEADER)
        )
        correlation_id.set(value or new_correlation_id())

    @app.after_request
    def _echo(response: Response) -> Response:
        response.headers[REQUEST_ID_HEADER] = correlation_id.get()
        response.headers[CORRELATION_HEADER] = correlation_id.get()
        return response

    @app.teardown_request
    def _forget(_exc: BaseException | None) -> None:
        correlation_id.set(NO_CORRELATION)  # a thread's next log line is no longer this request's
