"""The lottery service's app factory."""

from __future__ import annotations

import redis
from flask import Flask, request
from servicekit.db import make_session_factory
from servicekit.flask_app import create_service_app
from servicekit.flask_db import install_sessions
from servicekit.flask_metrics import add_scrape_collectors

from lottery_service import metrics
from lottery_service.api import interest, runs
from lottery_service.messaging import make_celery
from lottery_service.settings import LotterySettings, get_settings


def create_app(settings: LotterySettings | None = None) -> Flask:
    settings = settings or get_settings()
    engine, sessions = make_session_factory(settings.database_url)
    redis_client = redis.Redis.from_url(settings.redis_url, socket_timeout=2)
    app, api = create_service_app(__name__, "Lottery service", settings, engine, redis_client)
    install_sessions(app, sessions)
    add_scrape_collectors(app, metrics.scrape_collectors(engine, redis_client))
    app.extensions[runs.CELERY] = make_celery(settings)
    app.extensions[runs.SETTINGS] = settings
    api.register_blueprint(interest.blp)
    api.register_blueprint(runs.blp)

    @app.before_request
    def _larger_bodies_for_imports() -> None:
        if request.endpoint == interest.IMPORT_ENDPOINT:
            request.max_content_length = settings.max_import_bytes

    return app
