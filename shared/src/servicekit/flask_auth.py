"""A thin Flask adapter over :mod:`servicekit.auth`: all but public endpoints need a token."""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask, g, request

from servicekit.auth import AuthError, Principal, TokenVerifier

PUBLIC_ENDPOINTS = frozenset({"health.healthz", "health.readyz", "api-docs.openapi_json", "static"})


def install_auth(
    app: Flask, verifier: TokenVerifier, public_endpoints: Iterable[str] = PUBLIC_ENDPOINTS
) -> None:
    """Verify the bearer token before every non-public endpoint and keep the caller in ``g``."""
    public = frozenset(public_endpoints)

    @app.before_request
    def _authenticate() -> None:
        if request.endpoint is None or request.endpoint in public:
            return  # unknown routes answer 404; public ones need no token
        g.principal = verifier.verify_header(request.headers.get("Authorization"))


def current_principal() -> Principal:
    principal = g.get("principal")
    if principal is None:
        raise AuthError(401, "missing_token", "Send an 'Authorization: Bearer <JWT>' header.")
    return principal


def require_admin() -> Principal:
    principal = current_principal()
    principal.ensure_admin()
    return principal


def require_self_or_admin(student_id: int) -> Principal:
    principal = current_principal()
    principal.ensure_can_act_for(student_id)
    return principal
