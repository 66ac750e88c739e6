"""A thin Flask adapter over :mod:`servicekit.auth`: all but public endpoints need a token.

Before any view reads its input, in this order: the token is verified (401), the view's
declared :class:`~servicekit.access.Access` policy is checked (403), and path ids are bounded
(422). Validation of the query and body comes after, in the view's decorators.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from flask import Flask, g, request

from servicekit.access import Access
from servicekit.auth import AuthError, Principal, TokenVerifier
from servicekit.flask_api import check_path_ids, operation_access, peek_json_body

log = logging.getLogger(__name__)

PUBLIC_ENDPOINTS = frozenset(
    {"health.healthz", "health.readyz", "metrics.metrics", "api-docs.openapi_json", "static"}
)


def install_auth(
    app: Flask, verifier: TokenVerifier, public_endpoints: Iterable[str] = PUBLIC_ENDPOINTS
) -> None:
    """Authenticate and authorize before every non-public endpoint; keep the caller in ``g``.

    A view that declares no policy is treated as admin-only: forgetting fails closed.
    """
    public = frozenset(public_endpoints)

    @app.before_request
    def _authorize() -> None:
        if request.endpoint is None or request.endpoint in public:
            return  # unknown routes answer 404; public ones need no token
        if request.method == "OPTIONS":
            return  # Flask's automatic answer: the Allow header, nothing else
        policy = operation_access()
        if policy is Access.PUBLIC:
            check_path_ids(request.view_args)
            return
        principal = verifier.verify_header(request.headers.get("Authorization"))
        g.principal = principal
        if policy is None:
            log.warning("no access policy on %s; treating it as admin-only", request.endpoint)
            policy = Access.ADMIN
        body = peek_json_body(request) if policy is Access.SELF_IN_BODY else None
        policy.check(principal, request.view_args or {}, body)
        check_path_ids(request.view_args)


def current_principal() -> Principal:
    principal = g.get("principal")
    if not isinstance(principal, Principal):
        raise AuthError(401, "missing_token", "Send an 'Authorization: Bearer <JWT>' header.")
    return principal


def require_self_or_admin(student_id: int) -> Principal:
    principal = current_principal()
    principal.ensure_can_act_for(student_id)
    return principal
