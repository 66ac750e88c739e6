"""What every page module uses: the caller, signing in first, a service's error by field."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import httpx
from flask import abort, g, redirect, request, url_for

from web_service.backend import Caller

F = TypeVar("F", bound=Callable[..., Any])


def caller() -> Caller:
    current: Caller = g.caller
    return current


def signed_in(view: F) -> F:
    """Send a visitor to the sign-in page first, then back here."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if caller().session is None:
            return redirect(url_for("auth.signin", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def admin_only(view: F) -> F:
    @wraps(view)
    @signed_in
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        session = caller().session
        if session is None or not session.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def field_errors(response: httpx.Response) -> dict[str, list[str]]:
    """A service's 4xx as {field: [messages]}; the message under "" when no field is named."""
    try:
        error = response.json()["error"]
    except (ValueError, KeyError, TypeError):
        return {"": ["The service did not answer; try again in a moment."]}
    fields: dict[str, list[str]] = error.get("fields") or {}
    return fields or {"": [error.get("message", "Something went wrong.")]}


def shared(service: str, path: str) -> Any:
    """The JSON of what every student is shown the same (``Backend.shared``: read at most once
    per ``SHARED_READS_SECONDS`` and process, the last read shown meanwhile); a missing thing is
    the page's 404."""
    value, failed = caller().backend.read_shared(service, path)
    if failed is not None:
        return expect(failed, 200)
    return value


def expect(response: httpx.Response, *ok: int) -> Any:
    """The JSON of an expected answer; a missing thing is the page's 404."""
    if response.status_code in ok:
        return response.json() if response.content else None
    if response.status_code == 404:
        abort(404)
    if response.status_code == 403:
        abort(403)
    abort(502)
