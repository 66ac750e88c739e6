"""The profile service's app factory."""

from __future__ import annotations

from datetime import UTC, datetime

import redis
from flask import Flask
from servicekit.flask_app import create_service_app
from servicekit.flask_db import install_sessions
from servicekit.flask_metrics import add_scrape_collectors
from servicekit.metrics import (
    outbox_collector,
    redis_memory_collector,
    stream_lag_collector,
    streams_collector,
)

from profile_service.adapters.db import make_session_factory
from profile_service.adapters.models import outbox
from profile_service.api import profiles
from profile_service.domain.grades import Rollover
from profile_service.events import CATALOG_STREAM, PROFILES_STREAM
from profile_service.settings import ProfileSettings, get_settings
from profile_service.use_cases.profiles import GradeClock


def create_app(settings: ProfileSettings | None = None) -> Flask:
    settings = settings or get_settings()
    engine, sessions = make_session_factory(settings.database_url)
    redis_client = redis.Redis.from_url(settings.redis_url, socket_timeout=2)
    app, api = create_service_app(__name__, "Profile service", settings, engine, redis_client)
    install_sessions(app, sessions)
    lag = stream_lag_collector(redis_client, [(CATALOG_STREAM, "profile")])  # the relay's group
    published = streams_collector(redis_client, [PROFILES_STREAM])
    memory = redis_memory_collector(redis_client)
    add_scrape_collectors(app, [outbox_collector(engine, outbox), lag, published, memory])
    rollover = Rollover.parse(settings.grade_rollover)
    app.extensions[profiles.CLOCK] = lambda: GradeClock(rollover, datetime.now(UTC).date())
    api.register_blueprint(profiles.blp)
    return app
