"""The web's app factory: the browser's only origin. Pages are rendered on the server; a little
script of our own (static/app.js) sends the forms and listens for live answers. The session is
an HttpOnly, SameSite cookie holding an id; the tokens stay server-side (Redis)."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import redis
from flask import Flask, Response, g, redirect, render_template, request, url_for
from flask_wtf.csrf import CSRFError, CSRFProtect

from web_service import live
from web_service.backend import Backend, Caller, ServiceAccount, SignedOut, timed
from web_service.holdings import NO_RETRY, Holdings
from web_service.pages import admin, auth, student
from web_service.pages.catalog_cards import CatalogCards
from web_service.sessions import SessionStore
from web_service.settings import WebSettings, get_settings

SESSION_COOKIE = "web_session"
CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    ]
)

log = logging.getLogger(__name__)


def close(app: Flask) -> None:
    """Stop what :func:`create_app` started and close its connections (Redis, the services):
    for a test or a script done with the app, so nothing is left for the garbage collector to
    find open. A gunicorn worker that exits only stops the listener (``worker_exit``)."""
    app.extensions["web.holdings"].close()
    app.extensions["web.redis_pool"].disconnect()
    app.extensions["web.backend"].close()


def create_app(settings: WebSettings | None = None) -> Flask:
    settings = settings or get_settings()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.web_secret_key,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.cookie_secure,
        WTF_CSRF_TIME_LIMIT=None,  # as long as the session: a form left open still sends
        MAX_CONTENT_LENGTH=2 * 1024 * 1024,  # a CSV of classes
    )
    CSRFProtect(app)
    # Sessions are one short GET a page: a small pool that makes a burst wait its turn (redis-py's
    # default pool refuses past 100 connections, and two hundred students clicking at once
    # went past it).
    pool = redis.BlockingConnectionPool.from_url(
        settings.redis_url, max_connections=16, timeout=10, socket_timeout=5
    )
    client = redis.Redis(connection_pool=pool)
    store = SessionStore(client, settings.session_seconds)
    backend = Backend.connect(
        {
            "registration": settings.registration_url,
            "profile": settings.profile_url,
            "lottery": settings.lottery_url,
            "identity": settings.identity_url,
        },
        ServiceAccount(settings.web_account_email, settings.web_account_password),
        settings.shared_reads_seconds,
    )
    app.extensions["web.settings"] = settings
    app.extensions["web.store"] = store
    app.extensions["web.complete_profiles"] = student.CompleteProfiles(client)
    app.extensions["web.backend"] = backend
    app.extensions["web.cards"] = CatalogCards(shared=settings.shared_reads_seconds > 0)
    app.extensions["web.live"] = live.Live(settings, backend)
    # Its own connection: the listener holds a blocking XREAD on it (never one of the pool's).
    # It retries by itself (and redis-py's backoff would draw from `random` meanwhile).
    listener = redis.Redis.from_url(settings.redis_url, socket_timeout=30, retry=NO_RETRY)
    holdings = Holdings(client, listener, settings.holdings_seconds)
    app.extensions["web.holdings"] = holdings.start()
    app.extensions["web.redis_pool"] = pool

    @app.before_request
    def _caller() -> None:
        g.started, g.timings = time.perf_counter(), {}
        session_id = request.cookies.get(SESSION_COOKIE)
        g.session_id = session_id
        with timed("session"):
            loaded = store.load(session_id)
        g.caller = Caller(backend, store, session_id, loaded)

    @app.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        headers["Content-Security-Policy"] = CSP
        headers["X-Content-Type-Options"] = "nosniff"
        headers["X-Frame-Options"] = "DENY"
        headers["Referrer-Policy"] = "same-origin"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        if settings.cookie_secure:
            headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
        if response.mimetype == "text/html":
            headers.setdefault("Cache-Control", "no-store")
        if "started" in g:  # where the page's time went, for the browser's developer tools
            parts = [f"{part};dur={1000 * spent:.1f}" for part, spent in g.timings.items()]
            parts.append(f"app;dur={1000 * (time.perf_counter() - g.started):.1f}")
            headers["Server-Timing"] = ", ".join(parts)
        return response

    @app.errorhandler(SignedOut)
    def _signed_out(_exc: SignedOut) -> Response:
        response = redirect(url_for("auth.signin", next=request.path))
        response.delete_cookie(SESSION_COOKIE)
        return response

    @app.errorhandler(httpx.TransportError)
    @app.errorhandler(redis.RedisError)
    def _away(exc: Exception) -> tuple[str, int]:
        log.warning("a service did not answer: %s", exc)
        message = (
            "A service did not answer in time. Try again in a moment: "
            "a request sent again is never counted twice."
        )
        return render_template("error.html", title="Try again", message=message), 503

    @app.errorhandler(CSRFError)
    def _csrf(exc: CSRFError) -> tuple[str, int]:
        return render_template("error.html", title="Form expired", message=exc.description), 400

    @app.errorhandler(404)
    def _missing(_exc: Exception) -> tuple[str, int]:
        return render_template(
            "error.html", title="Not found", message="There is nothing at this address."
        ), 404

    @app.context_processor
    def _globals() -> dict[str, Any]:
        return {"me": g.caller.session if "caller" in g else None}

    # No blank lines and indentation from template tags: the catalog's 400 sections were half
    # whitespace (a page's weight on a phone, and the server's to send).
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    app.add_template_filter(local_time, "local_time")
    app.add_template_filter(local_time_short, "local_time_short")
    for blueprint in (auth.blp, student.blp, admin.blp, live.blp):
        app.register_blueprint(blueprint)
    app.add_url_rule("/healthz", "healthz", lambda: {"status": "ok"})
    return app


def local_time(value: str | None, zone: str = "UTC") -> str:
    """An ISO time from a service, in the program's time zone, as people read it."""
    if not value:
        return ""
    moment = datetime.fromisoformat(value).astimezone(ZoneInfo(zone))
    return moment.strftime("%a %-d %b %Y, %H:%M %Z")


def local_time_short(value: str | None, zone: str = "UTC") -> str:
    if not value:
        return ""
    return datetime.fromisoformat(value).astimezone(ZoneInfo(zone)).strftime("%H:%M")
