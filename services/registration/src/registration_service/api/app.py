"""The registration service's app factory."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import redis
from flask import Flask
from servicekit.flask_app import create_service_app
from servicekit.flask_db import install_sessions
from servicekit.flask_health import NotReady, add_readiness_check
from servicekit.flask_metrics import add_scrape_collectors
from sqlalchemy.orm import Session, sessionmaker

from registration_service import capacity, metrics
from registration_service.adapters.db import make_session_factory
from registration_service.api import catalog, constraints, queries, registration_types, requests
from registration_service.api.schemas import RegistrationTypeSchema
from registration_service.heartbeat import TTL_SECONDS, a_worker_is_alive
from registration_service.intake import RequestIntake
from registration_service.messaging import Doorbells, make_celery
from registration_service.outcome_fanout import OutcomeFanout, Replay
from registration_service.settings import RegistrationSettings, get_settings
from registration_service.use_cases.outcome_history import decided_outcomes


def create_app(settings: RegistrationSettings | None = None) -> Flask:
    settings = settings or get_settings()
    engine, sessions = make_session_factory(
        settings.database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_pre_ping=False,  # no round trip per checkout; a dropped connection is retried
    )
    # Doorbells, readiness and scrapes share a few connections, whatever the requests in flight;
    # open outcome streams use the fan-out's own two (see registration_service.capacity).
    redis_client = redis.Redis(
        connection_pool=redis.BlockingConnectionPool.from_url(
            settings.redis_url,
            max_connections=capacity.WEB_REDIS_POOL,
            timeout=5,
            socket_timeout=2,
            socket_connect_timeout=2,
        )
    )

    app, api = create_service_app(__name__, "Registration service", settings, engine, redis_client)
    install_sessions(app, sessions)
    partitions = settings.decision_partitions
    add_scrape_collectors(app, metrics.scrape_collectors(engine, redis_client, partitions))
    app.extensions["registration.settings"] = settings
    celery = make_celery(settings)
    celery.conf.broker_pool_limit = capacity.WEB_BROKER_POOL
    doorbells = Doorbells(celery, redis_client, settings)
    app.extensions["registration.fanout"] = OutcomeFanout(
        settings.redis_url, max_behind=capacity.PAGE_MAX_BEHIND, replay=outcome_replay(sessions)
    )
    app.extensions["registration.intake"] = RequestIntake(
        sessions, doorbells, settings.decision_partitions
    )
    for blueprint in (catalog.blp, registration_types.blp, queries.blp, requests.blp):
        api.register_blueprint(blueprint)
    api.register_blueprint(constraints.blp)
    api.spec.components.schema("RegistrationType", schema=RegistrationTypeSchema)
    if settings.require_worker_heartbeat:
        add_readiness_check(app, "workers", lambda: _require_a_worker(redis_client))
    return app


def outcome_replay(sessions: sessionmaker[Session]) -> Replay:
    """What the fan-out gives a page resumed from before its student's stream: the outcomes
    the database holds for that time (see registration_service.outcome_fanout)."""

    def replay(student_id: int, after_ms: int, before_ms: int | None) -> list[dict[str, Any]]:
        after = datetime.fromtimestamp(after_ms / 1000, UTC)
        before = None if before_ms is None else datetime.fromtimestamp(before_ms / 1000, UTC)
        with sessions() as session, session.begin():
            return decided_outcomes(session, student_id, after, before)

    return replay


def _require_a_worker(redis_client: redis.Redis) -> None:
    """Requests are accepted without a worker but nobody decides them: not ready."""
    if not a_worker_is_alive(redis_client):
        raise NotReady(f"no decision worker has reported in {TTL_SECONDS} s")
