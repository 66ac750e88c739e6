"""What a lottery worker or relay process holds: settings, engine, sessions, Redis, Celery."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import redis
from celery import Celery
from servicekit.db import make_session_factory
from servicekit.events import StreamPublisher
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from lottery_service.messaging import make_celery
from lottery_service.settings import LotterySettings, get_settings


@dataclass(frozen=True)
class Resources:
    settings: LotterySettings
    engine: Engine
    sessions: sessionmaker[Session]
    redis: redis.Redis
    publisher: StreamPublisher
    celery: Celery


@cache
def resources() -> Resources:
    """Built on first use in each process (after the fork), never shared across processes."""
    settings = get_settings()
    engine, sessions = make_session_factory(settings.database_url, pool_size=2, max_overflow=2)
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=10)
    publisher = StreamPublisher(client, retention_seconds=settings.stream_retention_seconds)
    return Resources(settings, engine, sessions, client, publisher, make_celery(settings))
