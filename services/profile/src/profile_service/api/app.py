"""The profile service's app factory."""

from __future__ import annotations

import redis
from flask import Flask
from servicekit.db import make_engine
from servicekit.flask_app import create_service_app

from profile_service.settings import ProfileSettings, get_settings


def create_app(settings: ProfileSettings | None = None) -> Flask:
    settings = settings or get_settings()
    engine = make_engine(settings.database_url)
    redis_client = redis.Redis.from_url(settings.redis_url, socket_timeout=2)
    app, _api = create_service_app(__name__, "Profile service", settings, engine, redis_client)
    return app
