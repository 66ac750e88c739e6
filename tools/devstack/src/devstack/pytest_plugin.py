"""Pytest fixtures for the real servers the suite starts itself (no stand-ins)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.postgres_server import PostgresServer
from devstack.redis_server import RedisServer


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis")).start(detached=True)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    yield server
    server.stop()
