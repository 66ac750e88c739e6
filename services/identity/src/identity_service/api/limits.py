"""Failed sign-ins, limited per account and per client address (Flask-Limiter, counts in
Redis). Only failures count (``deduct_when``), and the account is keyed by the email as given,
whether or not it has an account, so a 429 says nothing about an address. Once an account is
limited even the right password is refused until the window passes: guessing stops paying."""

from __future__ import annotations

from flask import Flask, Response, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from identity_service.domain.accounts import normalize_email
from identity_service.settings import IdentitySettings

limiter = Limiter(key_func=get_remote_address, headers_enabled=True)


def install_limits(app: Flask, settings: IdentitySettings) -> None:
    app.config.update(
        RATELIMIT_STORAGE_URI=settings.redis_url,
        RATELIMIT_KEY_PREFIX="identity.limits",
        # Redis away: keep counting in this process rather than refuse every sign-in.
        RATELIMIT_IN_MEMORY_FALLBACK_ENABLED=True,
        RATELIMIT_SWALLOW_ERRORS=True,
        SIGN_IN_LIMIT_PER_ACCOUNT=settings.sign_in_limit_per_account,
        SIGN_IN_LIMIT_PER_ADDRESS=settings.sign_in_limit_per_address,
    )
    limiter.init_app(app)


def _account_key() -> str:
    body = request.get_json(silent=True)
    email = body.get("email") if isinstance(body, dict) else None
    return "account:" + (normalize_email(email)[:254] if isinstance(email, str) else "-")


def _failed(response: Response) -> bool:
    return response.status_code == 401


per_account = limiter.limit(
    lambda: current_app.config["SIGN_IN_LIMIT_PER_ACCOUNT"],
    key_func=_account_key,
    deduct_when=_failed,
    scope="sign-in-account",
)
per_address = limiter.limit(
    lambda: current_app.config["SIGN_IN_LIMIT_PER_ADDRESS"],
    deduct_when=_failed,
    scope="sign-in-address",
)
