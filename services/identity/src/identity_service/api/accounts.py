"""Accounts: sign up, verify the address, the caller's own account, and admins' changes."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from flask.views import MethodView
from servicekit.flask_api import Access, ServiceBlueprint
from servicekit.flask_auth import current_principal
from servicekit.flask_db import transaction

from identity_service.api import messages, schemas
from identity_service.domain.accounts import Role
from identity_service.settings import IdentitySettings
from identity_service.use_cases import accounts

blp = ServiceBlueprint("accounts", __name__, url_prefix="/v1", description="Accounts.")


def _settings() -> IdentitySettings:
    settings: IdentitySettings = current_app.extensions["identity.settings"]
    return settings


@blp.route("/accounts")
class Accounts(MethodView):
    @blp.access(Access.PUBLIC)
    @blp.arguments(schemas.SignUpSchema)
    @blp.response(201, schemas.AccountSchema)
    @blp.alt_response(409, response="CONFLICT")
    def post(self, body: dict) -> object:
        """Sign up as a student; a message with a link to verify the address follows.

        The password needs at least 10 characters and may not be a commonly used one (422
        naming `password`); an address that has an account is a 409 `email_taken`."""
        lifetime = timedelta(seconds=_settings().verify_link_seconds)
        with transaction() as session:
            account = accounts.sign_up(session, accounts.NewAccount(**body))
            token = accounts.verification_link_token(session, account, lifetime)
            found = (account.email, account.display_name)
        messages.send_verification(found[0], found[1], token)
        return account

    @blp.access(Access.ADMIN)
    @blp.arguments(schemas.AccountQuerySchema, location="query")
    @blp.response(200, schemas.AccountListSchema)
    def get(self, query: dict) -> object:
        """Find an account by email (admin)."""
        with transaction() as session:
            account = accounts.find_by_email(session, query["email"])
            return {"accounts": [account] if account else []}


@blp.route("/accounts/verify")
class Verify(MethodView):
    @blp.access(Access.PUBLIC)
    @blp.arguments(schemas.TokenInSchema)
    @blp.response(200, schemas.VerifiedSchema)
    def post(self, body: dict) -> object:
        """Verify an address with the token of the emailed link (once; 422 naming `token`
        when it was used or expired)."""
        with transaction() as session:
            return accounts.verify_email(session, body["token"])


@blp.route("/accounts/verify/resend")
class ResendVerification(MethodView):
    @blp.access(Access.PUBLIC)
    @blp.arguments(schemas.EmailInSchema)
    @blp.response(202, schemas.AcceptedSchema)
    def post(self, body: dict) -> object:
        """Send the verification link again; the same answer whether or not the address has
        an account (or is verified already)."""
        lifetime = timedelta(seconds=_settings().verify_link_seconds)
        with transaction() as session:
            account = accounts.find_by_email(session, body["email"])
            send = account is not None and not account.email_verified and not account.disabled
            if send and account is not None:
                token = accounts.verification_link_token(session, account, lifetime)
                found = (account.email, account.display_name)
        if send:
            messages.send_verification(found[0], found[1], token)
        return {"message": "If this address has an unverified account, a new link is on its way."}


@blp.route("/accounts/me")
class Me(MethodView):
    @blp.access(Access.ANY_TOKEN)
    @blp.response(200, schemas.AccountSchema)
    @blp.alt_response(404, response="NOT_FOUND")
    def get(self) -> object:
        """The caller's own account (404 for a token that names none, such as a development
        token made by `make token`)."""
        subject = current_principal().subject
        with transaction() as session:
            return accounts.get_account_of(session, subject)


@blp.route("/accounts/<id:account_id>")
class Account(MethodView):
    @blp.access(Access.ADMIN)
    @blp.response(200, schemas.AccountSchema)
    def get(self, account_id: int) -> object:
        """One account (admin)."""
        with transaction() as session:
            return accounts.get_account(session, account_id)

    @blp.access(Access.ADMIN)
    @blp.arguments(schemas.AccountPatchSchema)
    @blp.response(200, schemas.AccountSchema)
    def patch(self, body: dict, account_id: int) -> object:
        """Promote or demote (`role`), disable or enable (`disabled`) an account (admin).
        Disabling ends every session of the account at once; an access token already issued
        runs out within 15 minutes."""
        role = Role(body["role"]) if "role" in body else None
        with transaction() as session:
            return accounts.update_account(
                session, account_id, role=role, disabled=body.get("disabled")
            )
