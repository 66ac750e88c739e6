"""The registration service's settings, from environment variables."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from servicekit.settings import ServiceSettings


class RegistrationSettings(ServiceSettings):
    database_url: str = "sqlite:///var/registration.sqlite3"
    # Decision queues: a section's requests all go to registration.decide.<section_id % N>.
    decision_partitions: int = 8
    # Connections per process: a gevent web process serves many requests at once.
    db_pool_size: int = 10
    db_max_overflow: int = 20
    # A partition's drainer decides up to this many requests per transaction, and drains at most
    # this many batches per doorbell before ringing again (so a worker's other partitions get
    # their turn during a long rush).
    decision_batch_size: int = 200
    drain_batches_per_doorbell: int = 5
    # The sweeper rings the partition of a request still queued this long after it was stored.
    requeue_after_seconds: float = 30.0
    sweep_interval_seconds: float = 2.0
    # /readyz also asks for a live decision-worker heartbeat. Off by default: a deployment that
    # starts its workers only once the web is ready (docker-compose: migrations ran) must not
    # wait on itself; `make up` turns it on.
    require_worker_heartbeat: bool = False
    # An open outcome stream gets a comment line at least this often, so proxies keep it open
    # and a page that went away is noticed.
    outcome_heartbeat_seconds: float = Field(default=15.0, ge=0.05, le=300)


@lru_cache
def get_settings() -> RegistrationSettings:
    return RegistrationSettings()
