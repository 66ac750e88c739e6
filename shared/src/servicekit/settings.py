"""Settings read from environment variables into one typed object per service."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_JWT_SECRET = "dev-only-secret-change-me-0123456789abcdef"


class ServiceSettings(BaseSettings):
    """What every service reads from its environment; services subclass it to add their own.

    Environment variable names are the field names in upper case (``DATABASE_URL``...).
    """

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    database_url: str = "sqlite:///var/service.sqlite3"
    redis_url: str = "redis://127.0.0.1:6379/0"
    jwt_secret: str = DEVELOPMENT_JWT_SECRET
    log_level: str = "INFO"
    # Seconds a reserved, unacknowledged Celery message stays invisible before Redis hands it
    # out again. The same value in every service: a shorter one redelivers long tasks twice.
    celery_visibility_timeout: int = 600
    # Request bodies: larger ones are a 413, deeper nesting a 400, both before parsing.
    max_body_bytes: int = 1_048_576
    max_json_depth: int = 32
