"""What a worker process holds: one engine, session factory, Redis client, publisher and
doorbells."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import redis
from celery import Celery
from servicekit.events import StreamPublisher
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from registration_service.adapters.db import make_session_factory
from registration_service.events import STUDENT_STREAM_PREFIX
from registration_service.messaging import Doorbells, make_celery
from registration_service.settings import RegistrationSettings, get_settings


@dataclass(frozen=True)
class Resources:
    settings: RegistrationSettings
    engine: Engine
    sessions: sessionmaker[Session]
    publisher: StreamPublisher
    celery: Celery
    redis: redis.Redis
    doorbells: Doorbells


@cache
def resources() -> Resources:
    """Built on first use in each process (after the fork), never shared across processes."""
    settings = get_settings()
    engine, sessions = make_session_factory(
        settings.database_url,
        pool_size=2,
        max_overflow=2,  # a solo worker needs one or two
        pool_pre_ping=False,  # no round trip per checkout; a dropped connection is retried
    )
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=10)
    # Every stream keeps STREAM_RETENTION_SECONDS; a student's outcome stream also expires
    # after as long without an outcome (the fan-out replays older ones from the database).
    publisher = StreamPublisher(
        client,
        retention_seconds=settings.stream_retention_seconds,
        expiring_prefixes=(STUDENT_STREAM_PREFIX,),
    )
    celery = make_celery(settings)
    return Resources(
        settings, engine, sessions, publisher, celery, client, Doorbells(celery, client, settings)
    )
