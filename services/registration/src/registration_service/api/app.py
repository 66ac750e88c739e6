"""The registration service's app factory."""

from __future__ import annotations

import redis
from flask import Flask
from servicekit.flask_app import create_service_app
from servicekit.flask_db import install_sessions
from servicekit.flask_health import NotReady, add_readiness_check
from servicekit.flask_metrics import add_scrape_collectors

from registration_service import capacity, metrics
from registration_service.adapters.db import make_session_factory
from registration_service.api import catalog, constraints, queries, registration_types, requests
from registration_service.api.schemas import RegistrationTypeSchema
from registration_service.heartbeat import TTL_SECONDS, a_worker_is_alive
from registration_service.intake import RequestIntake
from registration_service.messaging import Doorbells, make_celery
from registration_service.outcome_fanout import OutcomeFanout
from registration_service.settings import RegistrationSettings, get_settings


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
        settings.redis_url, max_behind=capacity.PAGE_MAX_BEHIND
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


def _require_a_worker(redis_client: redis.Redis) -> None:
    """Requests are accepted without a worker but nobody decides them: not ready."""
    if not a_worker_is_alive(redis_client):
        raise NotReady(f"no decision worker has reported in {TTL_SECONDS} s")
