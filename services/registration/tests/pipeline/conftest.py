"""One pipeline (PostgreSQL, its own Redis, web, workers, relay) for the module's tests."""

from __future__ import annotations

import uuid

import pytest
from devstack.pipeline import PipelineStack
from devstack.redis_server import RedisServer
from registration_service.adapters.db import make_session_factory
from registration_service.migrate import upgrade


@pytest.fixture(scope="module")
def pipeline_db(postgres_server):
    url = postgres_server.create_database(f"pipe_{uuid.uuid4().hex[:10]}")
    upgrade(url)
    engine, sessions = make_session_factory(url)
    yield url, sessions, engine
    engine.dispose()


@pytest.fixture(scope="module")
def pipeline_redis(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("pipeline-redis")).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def stack(pipeline_db, pipeline_redis, tmp_path_factory):
    url = pipeline_db[0]
    logs = tmp_path_factory.mktemp("pipeline-logs")
    running = PipelineStack(url, pipeline_redis, logs).start()
    yield running
    running.stop()


@pytest.fixture
def sessions(pipeline_db):
    return pipeline_db[1]


@pytest.fixture
def engine(pipeline_db):
    return pipeline_db[2]
