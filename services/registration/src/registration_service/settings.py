"""The registration service's settings, from environment variables."""

from __future__ import annotations

from functools import lru_cache

from servicekit.settings import ServiceSettings


class RegistrationSettings(ServiceSettings):
    database_url: str = "sqlite:///var/registration.sqlite3"
    # Decision queues: a section's requests all go to registration.decide.<section_id % N>.
    decision_partitions: int = 8
    # Connections per process: a gevent web process serves many requests at once.
    db_pool_size: int = 10
    db_max_overflow: int = 20
    # The sweeper re-sends a request still queued this long after it was last sent.
    requeue_after_seconds: float = 30.0
    sweep_interval_seconds: float = 2.0


@lru_cache
def get_settings() -> RegistrationSettings:
    return RegistrationSettings()
