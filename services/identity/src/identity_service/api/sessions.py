"""Sign in, refresh, sign out; and reset a forgotten password."""

from __future__ import annotations

import threading
from datetime import timedelta

from flask import current_app
from flask.views import MethodView
from servicekit.auth import AuthError
from servicekit.flask_api import Access, ServiceBlueprint
from servicekit.flask_db import transaction

from identity_service.api import limits, messages, schemas
from identity_service.settings import IdentitySettings
from identity_service.use_cases import accounts, sessions

blp = ServiceBlueprint("sessions", __name__, url_prefix="/v1", description="Signing in.")


def _policy() -> sessions.TokenPolicy:
    policy: sessions.TokenPolicy = current_app.extensions["identity.tokens"]
    return policy


@blp.route("/sessions")
class Sessions(MethodView):
    @blp.access(Access.PUBLIC)
    @blp.arguments(schemas.SignInSchema)
    @blp.response(201, schemas.TokensSchema)
    @blp.alt_response(401, response="UNAUTHORIZED")
    @blp.alt_response(403, response="FORBIDDEN")
    @blp.alt_response(429, response="TOO_MANY_REQUESTS")
    @limits.per_account
    @limits.per_address
    def post(self, body: dict) -> object:
        """Sign in: a 15-minute access token and a refresh token.

        A wrong email or password is one answer, 401 `invalid_credentials`; an unverified
        address 403 `email_not_verified`. Too many failures for one address or from one client
        is a 429 with Retry-After, and then even the right password waits."""
        with transaction() as session:
            return sessions.sign_in(session, body["email"], body["password"], _policy())


@blp.route("/sessions/refresh")
class Refresh(MethodView):
    @blp.access(Access.PUBLIC)
    @blp.arguments(schemas.RefreshInSchema)
    @blp.response(201, schemas.TokensSchema)
    @blp.alt_response(401, response="UNAUTHORIZED")
    def post(self, body: dict) -> object:
        """Spend a refresh token for a new pair. A token spent before means a copy is in
        someone else's hands: the whole session ends (401 `refresh_token_reused`)."""
        with transaction() as session:
            outcome = sessions.refresh(session, body["refresh_token"], _policy())
        if isinstance(outcome, AuthError):
            raise outcome  # after the commit that ended the session
        return outcome


@blp.route("/sessions/revoke")
class Revoke(MethodView):
    @blp.access(Access.PUBLIC)
    @blp.arguments(schemas.RefreshInSchema)
    @blp.response(204)
    def post(self, body: dict) -> None:
        """Sign out: the refresh token's session ends (an unknown one has already)."""
        with transaction() as session:
            sessions.revoke(session, body["refresh_token"])


@blp.route("/password-resets")
class PasswordResets(MethodView):
    @blp.access(Access.PUBLIC)
    @blp.arguments(schemas.EmailInSchema)
    @blp.response(202, schemas.AcceptedSchema)
    def post(self, body: dict) -> object:
        """Ask for a reset link: the same answer, in about the same time, whatever the
        address (the message is sent in the background)."""
        settings: IdentitySettings = current_app.extensions["identity.settings"]
        with transaction() as session:
            found = accounts.reset_link_token(
                session, body["email"], timedelta(seconds=settings.reset_link_seconds)
            )
        if found is not None:
            app = current_app._get_current_object()  # type: ignore[attr-defined]

            def send() -> None:
                with app.app_context():
                    messages.send_reset(*found)

            threading.Thread(target=send, daemon=True).start()
        return {"message": "If this address has an account, a reset link is on its way."}


@blp.route("/password-resets/confirm")
class ConfirmReset(MethodView):
    @blp.access(Access.PUBLIC)
    @blp.arguments(schemas.ResetConfirmSchema)
    @blp.response(200, schemas.VerifiedSchema)
    def post(self, body: dict) -> object:
        """Set a new password with the reset link's token (once; 422 naming `token` or
        `password`). Every session of the account ends."""
        with transaction() as session:
            return accounts.reset_password(session, body["token"], body["password"])
