"""The web app against a real Redis (its sessions); the services it calls are not needed by
these tests (pages that call them are driven in a browser by tests/test_pages.py)."""

from __future__ import annotations

import pytest
from web_service.app import close, create_app
from web_service.settings import WebSettings


@pytest.fixture
def app(redis_server):
    settings = WebSettings(
        redis_url=redis_server.url, registration_url="http://127.0.0.1:9", cookie_secure=True
    )
    app = create_app(settings)
    yield app
    close(app)  # no listener, nor connection, left behind for the rest of the run


@pytest.fixture
def client(app):
    return app.test_client()
