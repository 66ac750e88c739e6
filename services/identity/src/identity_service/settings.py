"""The identity service's settings, from environment variables."""

from __future__ import annotations

from functools import lru_cache

from servicekit.settings import ServiceSettings


class IdentitySettings(ServiceSettings):
    database_url: str = "sqlite:///var/identity.sqlite3"
    # The private signing keys, one PEM file each (a volume in production; never in the
    # database, never in another service). The newest signs; the JWKS publishes it and every
    # older key whose tokens may still be valid.
    keys_dir: str = "var/identity-keys"
    access_token_seconds: int = 900  # 15 minutes
    # A rotated-in key is published this long before it signs (more than the services' 5 s
    # between refetches on an unknown kid), so no service meets a kid it cannot fetch yet.
    key_publish_ahead_seconds: float = 10.0
    refresh_token_seconds: int = 30 * 24 * 3600
    verify_link_seconds: int = 48 * 3600
    reset_link_seconds: int = 3600
    # Where links in messages point (the web's pages: /verify?token=..., /reset?token=...).
    public_url: str = "http://127.0.0.1:8000"
    # Messages: to SMTP when SMTP_HOST is set, else as .eml files in MAIL_DIR (make up, tests).
    mail_dir: str = "var/mail"
    mail_from: str = "registration@localhost"
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = True
    # Failed sign-ins, per account (the email given, whether or not it exists) and per client
    # address, in Flask-Limiter's notation; Redis holds the counts.
    sign_in_limit_per_account: str = "5 per 15 minutes"
    sign_in_limit_per_address: str = "30 per minute"
    # Proxies in front of this service that append X-Forwarded-For (the web is one): the client
    # address the per-address limit counts is the one they saw. 0: the connection's address.
    forwarded_for_depth: int = 0
    # Verify our own tokens with our own keys (no HTTP round trip to ourselves).
    jwt_jwks_url: str | None = None


@lru_cache
def get_settings() -> IdentitySettings:
    return IdentitySettings()
