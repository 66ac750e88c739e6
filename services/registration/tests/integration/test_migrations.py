"""The migrations build exactly the schema the models describe, and the newest one can be
undone and done again with the queue's rows and indexes intact."""

import uuid

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from registration_service.adapters.db import make_session_factory
from registration_service.adapters.models import Base
from registration_service.migrate import ALEMBIC_INI, upgrade
from sqlalchemy import inspect, text


def schema_diff(database_url):
    engine, _ = make_session_factory(database_url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    return diff


def test_migrations_match_the_models(database_url):
    assert schema_diff(database_url) == []


def request_columns_and_queue(database_url):
    """The request table's columns, its queued rows' ids and its partial queue index."""
    engine, _ = make_session_factory(database_url)
    with engine.connect() as connection:
        columns = {c["name"] for c in inspect(connection).get_columns("registration_requests")}
        queued = connection.execute(text("SELECT id FROM registration_requests")).scalars().all()
        indexes = {
            index["name"]: {k: str(v) for k, v in index.get("dialect_options", {}).items()}
            for index in inspect(connection).get_indexes("registration_requests")
        }
    engine.dispose()
    return columns, queued, indexes["ix_registration_requests_partition_queue"]


def store_a_request(database_url):
    """A student's request, as stored before 0004 and after (no origin, no starts_at)."""
    engine, _ = make_session_factory(database_url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO programs (name, grade_min, grade_max, student_count, use_priority,"
                " created_at) VALUES ('Splash', 7, 12, 0, false, CURRENT_TIMESTAMP)"
            )
        )
        connection.execute(
            text(
                "INSERT INTO registration_requests (id, program_id, student_id, action,"
                " section_id, waitlist, status, decision_partition, created_at, enqueued_at)"
                " VALUES ('r1', (SELECT max(id) FROM programs), 5, 'enroll', 3, false, 'queued',"
                " 3, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
        )
    engine.dispose()


@pytest.mark.parametrize(
    "dialect", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_request_origins_migrate_down_and_up_again(database_url, request, dialect):
    """0004 adds two nullable columns; undoing it keeps every queued request and the partial
    index the drainers read the queue by."""
    if dialect == "postgresql":
        server = request.getfixturevalue("postgres_server")
        database_url = server.create_database(f"migrations_{uuid.uuid4().hex[:10]}")
        upgrade(database_url)
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    store_a_request(database_url)
    columns, _, index = request_columns_and_queue(database_url)
    assert {"origin", "starts_at"} <= columns and index  # a partial index: it has a WHERE

    command.downgrade(config, "0003")
    columns, queued, index_before = request_columns_and_queue(database_url)
    assert not {"origin", "starts_at"} & columns and queued == ["r1"]

    command.upgrade(config, "head")
    columns, queued, index_after = request_columns_and_queue(database_url)
    assert {"origin", "starts_at"} <= columns and queued == ["r1"]
    assert index == index_before == index_after
    assert schema_diff(database_url) == []
