"""Fixtures: a migrated SQLite database per test, the app on it, and a catalog feeder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from devstack.tokens import TEST_SIGNER
from lottery_api_kit import Catalog
from lottery_service.api.app import create_app
from lottery_service.migrate import upgrade
from lottery_service.settings import LotterySettings
from servicekit.db import make_session_factory
from sqlalchemy.orm import Session, sessionmaker


@pytest.fixture
def database_url(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'lottery.sqlite3'}"
    upgrade(url)
    return url


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine, factory = make_session_factory(database_url)
    yield factory
    engine.dispose()


@pytest.fixture
def catalog(sessions: sessionmaker[Session]) -> Catalog:
    return Catalog(sessions)


@pytest.fixture
def settings(database_url: str, redis_server) -> LotterySettings:
    return LotterySettings(
        database_url=database_url,
        redis_url=redis_server.url,
        jwt_jwks=TEST_SIGNER.jwks_json(),
        lottery_time_limit_seconds=5,
    )


@pytest.fixture
def client(settings: LotterySettings):
    return create_app(settings).test_client()
