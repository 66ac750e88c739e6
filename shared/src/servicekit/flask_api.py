"""The flask-smorest pieces every service's HTTP layer is built from.

- :class:`ServiceBlueprint` reads JSON bodies through :class:`JsonBodyParser`, declares who may
  call each operation (``@blp.access(Access.ADMIN)``) and documents the error answers each
  operation can give, so the OpenAPI document lists every status the server sends.
- :class:`IdConverter` (``<id:program_id>``) takes up to 30 digits, so an id too large for the
  database is answered 422 naming the parameter (by :func:`check_path_ids`), not 500.
"""

from __future__ import annotations

import http
from collections.abc import Callable
from typing import Any

from flask import Request, current_app, g, request
from flask_smorest import Blueprint
from webargs.flaskparser import FlaskParser
from werkzeug.routing import BaseConverter

from servicekit.access import Access, access_of, declare_access
from servicekit.errors import ApiError
from servicekit.json_body import DEFAULT_MAX_DEPTH, BodyRejected, parse_json_body
from servicekit.schema_fields import MAX_ID

MAX_DEPTH_CONFIG = "SERVICEKIT_MAX_JSON_DEPTH"
_PARSED = "_servicekit_json_body"


class IdConverter(BaseConverter):
    """A path id: digits only; its bounds are checked after authorization, as a 422."""

    regex = r"\d{1,30}"
    part_isolating = True

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: Any) -> str:
        return str(int(value))


def id_converter_schema(_converter: BaseConverter) -> dict[str, Any]:
    return {"type": "integer", "minimum": 1, "maximum": MAX_ID}


def check_path_ids(view_args: dict[str, Any] | None) -> None:
    """Refuse path ids outside 1..2^31-1, naming each one."""
    bad = {
        name: [f"Must be an id from 1 to {MAX_ID}."]
        for name, value in (view_args or {}).items()
        if isinstance(value, int) and not 1 <= value <= MAX_ID
    }
    if bad:
        raise ApiError(422, "validation_error", "Some path parameters are invalid.", bad)


def json_body(req: Request) -> Any:
    """The request's JSON body, parsed once per request; ``ApiError`` when it is refused."""
    if _PARSED in g:
        return g.get(_PARSED)
    if not req.is_json:
        raise ApiError(
            415,
            "unsupported_media_type",
            "Send the body as JSON with 'Content-Type: application/json'.",
            {"body": [f"Content-Type must be application/json, not {req.mimetype or 'none'}."]},
        )
    max_depth = current_app.config.get(MAX_DEPTH_CONFIG, DEFAULT_MAX_DEPTH)
    try:
        data = parse_json_body(req.get_data(cache=True), max_depth)
    except BodyRejected as exc:
        raise ApiError(exc.status, exc.code, exc.message, exc.fields) from exc
    setattr(g, _PARSED, data)
    return data


def peek_json_body(req: Request) -> Any:
    """The body if it can be read, else None: for checks that run before validation."""
    try:
        return json_body(req) if req.content_length or req.is_json else None
    except ApiError:
        return None


class JsonBodyParser(FlaskParser):
    """Bodies must be JSON: another content type is a 415, an empty body a 400, never an
    empty dict that a schema with optional fields would accept (and save)."""

    def load_json(self, req: Request, schema: Any) -> Any:
        return json_body(req)

    def load_json_or_form(self, req: Request, schema: Any) -> Any:
        return json_body(req)


_BODY_ERRORS = (400, 413, 415)


class ServiceBlueprint(Blueprint):  # type: ignore[misc]  # flask-smorest is untyped: Any
    """A flask-smorest ``Blueprint`` with the kit's JSON parser, access policies and error docs."""

    ARGUMENTS_PARSER = JsonBodyParser()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._prepare_doc_cbks.append(self._prepare_error_doc)

    def route(self, rule: str, **kwargs: Any) -> Callable[[Any], Any]:
        register: Callable[[Any], Any] = super().route(rule, **kwargs)
        if "<" not in rule:
            return register

        def decorator(view: Any) -> Any:
            methods = [getattr(view, name.lower(), None) for name in self.HTTP_METHODS]
            for function in [m for m in methods if m is not None] or [view]:
                function._apidoc = {**getattr(function, "_apidoc", {}), "path_params": True}
            return register(view)

        return decorator

    def access(self, policy: Access) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Declare who may call the view; checked before the view's input is parsed."""

        def decorator(function: Callable[..., Any]) -> Callable[..., Any]:
            doc: dict[str, Any] = {"x-access": policy.value}
            if policy is Access.PUBLIC:
                doc["security"] = []  # no bearer token
            documented: Callable[..., Any] = self.doc(**doc)(function)
            _apidoc(documented)["access"] = policy  # read by _prepare_error_doc
            return declare_access(documented, policy)

        return decorator

    def arguments(self, schema: Any, *, location: str = "json", **kwargs: Any) -> Any:
        decorator = super().arguments(schema, location=location, **kwargs)
        if location != "json":
            return decorator

        def with_body_errors(function: Callable[..., Any]) -> Callable[..., Any]:
            wrapped: Callable[..., Any] = decorator(function)
            _apidoc(wrapped)["json_body"] = True
            return wrapped

        return with_body_errors

    @staticmethod
    def _prepare_error_doc(
        doc: dict[str, Any], doc_info: dict[str, Any], *, spec: Any, **_: Any
    ) -> dict[str, Any]:
        """Document the kit's own answers: 401/403 by access, 400/413/415 for JSON bodies,
        404/422 where the operation reads a path or its input."""
        policy = doc_info.get("access")
        statuses = set() if policy == Access.PUBLIC else {401}
        if doc_info.get("path_params"):
            statuses.update((404, 422))
        if doc_info.get("arguments"):
            statuses.add(422)
        if policy is not None and Access(policy).may_forbid:
            statuses.add(403)
        if doc_info.get("json_body"):
            statuses.update(_BODY_ERRORS)
        responses = doc.setdefault("responses", {})
        for status in sorted(statuses):
            name = http.HTTPStatus(status).name
            responses.setdefault(str(status), spec.components.get_ref("response", name))
        if policy is not None:
            description = doc.get("description", "")
            doc["description"] = f"{description}\n\nAccess: {Access(policy).summary}".strip()
        return doc


def _apidoc(view: Callable[..., Any]) -> dict[str, Any]:
    """The documentation flask-smorest's decorators have gathered on ``view``."""
    gathered: dict[str, Any] = view._apidoc  # type: ignore[attr-defined]  # set by flask-smorest
    return gathered


def operation_access() -> Access | None:
    """The policy declared on the view about to handle this request."""
    view = current_app.view_functions.get(request.endpoint or "")
    view_class = getattr(view, "view_class", None)
    if view_class is not None:
        method = request.method.lower()
        if method == "head":
            method = "get"
        view = getattr(view_class, method, None)
    return access_of(view)


__all__ = [
    "Access",
    "IdConverter",
    "JsonBodyParser",
    "ServiceBlueprint",
    "check_path_ids",
    "id_converter_schema",
    "json_body",
    "operation_access",
    "peek_json_body",
]
