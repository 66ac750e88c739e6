"""The identity service's app factory."""

from __future__ import annotations

import redis
from flask import Flask
from servicekit.auth import KeySet
from servicekit.flask_app import create_service_app
from servicekit.flask_db import install_sessions
from servicekit.flask_metrics import add_scrape_collectors
from servicekit.metrics import outbox_collector, redis_memory_collector, streams_collector
from werkzeug.middleware.proxy_fix import ProxyFix

from identity_service.adapters.db import make_session_factory
from identity_service.adapters.mail import make_mailer
from identity_service.adapters.models import outbox
from identity_service.api import accounts, jwks, limits, messages, sessions
from identity_service.events import ACCOUNTS_STREAM
from identity_service.keys import KeyRing
from identity_service.settings import IdentitySettings, get_settings
from identity_service.use_cases.sessions import TokenPolicy


def create_app(settings: IdentitySettings | None = None) -> Flask:
    settings = settings or get_settings()
    engine, session_factory = make_session_factory(settings.database_url)
    redis_client = redis.Redis.from_url(settings.redis_url, socket_timeout=2)
    ring = KeyRing(
        settings.keys_dir, settings.access_token_seconds, settings.key_publish_ahead_seconds
    )
    # Our own tokens are checked against our own keys, read from the ring (no HTTP to self).
    own_keys = KeySet(ring.jwks, source=settings.keys_dir)
    app, api = create_service_app(
        __name__, "Identity service", settings, engine, redis_client, keys=own_keys
    )
    install_sessions(app, session_factory)
    add_scrape_collectors(
        app,
        [
            outbox_collector(engine, outbox),
            streams_collector(redis_client, [ACCOUNTS_STREAM]),
            redis_memory_collector(redis_client),
        ],
    )
    if settings.forwarded_for_depth:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.forwarded_for_depth)  # type: ignore[method-assign]
    limits.install_limits(app, settings)
    app.extensions["identity.settings"] = settings
    app.extensions["identity.keys"] = ring
    app.extensions["identity.tokens"] = TokenPolicy(
        ring,
        settings.jwt_issuer,
        settings.jwt_audience,
        settings.access_token_seconds,
        settings.refresh_token_seconds,
    )
    app.extensions[messages.MAILER] = make_mailer(settings)
    for blueprint in (accounts.blp, sessions.blp, jwks.blp):
        api.register_blueprint(blueprint)
    return app
