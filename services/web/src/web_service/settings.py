"""The web's settings, from environment variables. It owns no database: only the browser
sessions (in Redis) and the addresses of the services it calls."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_SECRET_KEY = "dev-only-web-secret-change-me-0123456789"


class WebSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    registration_url: str = "http://127.0.0.1:8001"
    profile_url: str = "http://127.0.0.1:8002"
    lottery_url: str = "http://127.0.0.1:8003"
    identity_url: str = "http://127.0.0.1:8004"
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Signs the session cookie's id and the CSRF tokens of forms. It cannot sign an access
    # token: those are the identity service's alone.
    web_secret_key: str = DEVELOPMENT_SECRET_KEY
    # The session cookie is Secure (HTTPS only) anywhere but a developer's machine.
    cookie_secure: bool = False
    session_seconds: int = 12 * 3600
    # The web's own account (a student-role account in the identity service, made for it): what
    # it reads before anyone signs in (the programs on the front page, the seats the live catalog
    # shows to every open page) is read with its token. Never a signing key.
    web_account_email: str | None = None
    web_account_password: str | None = None
    # What every student is shown the same (a program, its catalog, timeslots, waiting room) is
    # read at most this often per process and shared by every page meanwhile. 0: each page
    # reads its own (the design the page benchmark compares against).
    shared_reads_seconds: float = Field(default=1.0, ge=0, le=60)
    # A student's own sections are kept by each web process until registration's outcomes
    # stream names the student (web_service.holdings), and at most this long. 0: each page
    # asks the registration service (the design the page benchmark compares against).
    holdings_seconds: float = Field(default=60.0, ge=0, le=3600)
    log_level: str = "INFO"


@lru_cache
def get_settings() -> WebSettings:
    return WebSettings()
