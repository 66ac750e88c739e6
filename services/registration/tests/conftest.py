"""Fixtures: a migrated SQLite database per test (copied from one migrated template), the app,
the outcome fan-outs a test makes and a catalog builder."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from devstack.tokens import TEST_SIGNER
from registration_service.adapters.db import make_session_factory
from registration_service.api.app import create_app
from registration_service.migrate import upgrade
from registration_service.outcome_fanout import OutcomeFanout
from registration_service.settings import RegistrationSettings
from registration_testkit import CatalogBuilder
from sqlalchemy.orm import Session, sessionmaker


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("template") / "registration.sqlite3"
    upgrade(f"sqlite:///{path}")
    return str(path)


@pytest.fixture
def database_url(migrated_template: str, tmp_path) -> str:
    path = tmp_path / "registration.sqlite3"
    shutil.copy(migrated_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine, factory = make_session_factory(database_url)
    yield factory
    engine.dispose()


@pytest.fixture
def session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    """One open transaction per test, like a view or task would hold."""
    with sessions() as session, session.begin():
        yield session


@pytest.fixture
def settings(database_url: str, redis_server) -> RegistrationSettings:
    return RegistrationSettings(
        database_url=database_url, redis_url=redis_server.url, jwt_jwks=TEST_SIGNER.jwks_json()
    )


@pytest.fixture
def client(settings: RegistrationSettings):
    app = create_app(settings)
    yield app.test_client()
    app.extensions["registration.fanout"].stop()  # its Redis goes with the test


@pytest.fixture
def fanouts() -> Iterator[Callable[..., OutcomeFanout]]:
    """``OutcomeFanout(...)`` for a test, stopped after it, as the app fixture stops the app's:
    a fan-out left running goes on retrying a Redis the session has stopped, and logs so."""
    made: list[OutcomeFanout] = []

    def make(*args: Any, **kwargs: Any) -> OutcomeFanout:
        made.append(OutcomeFanout(*args, **kwargs))
        return made[-1]

    yield make
    for fanout in made:
        fanout.stop()


@pytest.fixture
def build(session: Session) -> CatalogBuilder:
    return CatalogBuilder(session)
