"""Fixtures: a migrated SQLite database per test, the app, and programs announced to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from devstack.tokens import TEST_SIGNER
from profile_service.adapters.db import make_session_factory
from profile_service.api.app import create_app
from profile_service.events import PROGRAM_CREATED
from profile_service.migrate import upgrade
from profile_service.settings import ProfileSettings
from profile_service.use_cases.programs import handle_catalog_event
from servicekit.events import Event
from sqlalchemy.orm import Session, sessionmaker


@pytest.fixture
def database_url(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'profile.sqlite3'}"
    upgrade(url)
    return url


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine, factory = make_session_factory(database_url)
    yield factory
    engine.dispose()


@pytest.fixture
def client(database_url: str, redis_server):
    settings = ProfileSettings(
        database_url=database_url, redis_url=redis_server.url, jwt_jwks=TEST_SIGNER.jwks_json()
    )
    return create_app(settings).test_client()


@pytest.fixture
def announce(sessions: sessionmaker[Session]) -> Callable[..., int]:
    """Tell the service about a program, as the registration service's catalog event does."""

    def announce(program_id: int, opens_at: str | None = "2026-12-01T09:00:00+00:00") -> int:
        payload = {"id": program_id, "name": f"Program {program_id}"}
        payload["registration_opens_at"] = opens_at
        with sessions() as session, session.begin():
            handle_catalog_event(session, Event(PROGRAM_CREATED, "registration", payload))
        return program_id

    return announce
