"""Settings read from environment variables into one typed object per service."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# Who signs the tokens every service accepts (the identity service) and whom they are for.
DEFAULT_ISSUER = "esp-identity"
DEFAULT_AUDIENCE = "esp-services"
DEFAULT_JWKS_URL = "http://127.0.0.1:8004/.well-known/jwks.json"  # identity under `make up`


class ServiceSettings(BaseSettings):
    """What every service reads from its environment; services subclass it to add their own.

    Environment variable names are the field names in upper case (``DATABASE_URL``...).
    """

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    database_url: str = "sqlite:///var/service.sqlite3"
    redis_url: str = "redis://127.0.0.1:6379/0"
    # The identity service's public keys: fetched from JWT_JWKS_URL and cached, or given as
    # JSON (JWT_JWKS) or a file (JWT_JWKS_FILE) for tests and offline deployments. No service
    # holds anything that can sign a token.
    jwt_jwks_url: str | None = DEFAULT_JWKS_URL
    jwt_jwks: str | None = None
    jwt_jwks_file: str | None = None
    jwt_issuer: str = DEFAULT_ISSUER
    jwt_audience: str = DEFAULT_AUDIENCE
    log_level: str = "INFO"
    # Seconds a reserved, unacknowledged Celery message stays invisible before Redis hands it
    # out again. The same value in every service: a shorter one redelivers long tasks twice.
    celery_visibility_timeout: int = 600
    # Request bodies: larger ones are a 413, deeper nesting a 400, both before parsing.
    max_body_bytes: int = 1_048_576
    max_json_depth: int = 32
    # How long every stream the service publishes keeps an entry (seconds; 7 days). Older
    # entries are trimmed at each publish, and a student's outcome stream expires after as long
    # without one: Redis holds this much history, the databases the rest. A consumer stopped
    # longer than this misses events and needs its producer's replay command (runbook).
    stream_retention_seconds: int = Field(default=604_800, ge=1)
