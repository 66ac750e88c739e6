"""0005 adds the schedule constraints table alone: undone and done again, the schema is the
models' and every other table is untouched."""

import uuid

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from registration_service.adapters.db import make_session_factory
from registration_service.adapters.models import Base
from registration_service.migrate import ALEMBIC_INI, upgrade
from sqlalchemy import inspect


def tables_and_diff(database_url):
    engine, _ = make_session_factory(database_url)
    with engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    return tables, diff


@pytest.mark.parametrize(
    "dialect", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_schedule_constraints_migrate_down_and_up_again(database_url, request, dialect):
    if dialect == "postgresql":
        server = request.getfixturevalue("postgres_server")
        database_url = server.create_database(f"migrations_{uuid.uuid4().hex[:10]}")
        upgrade(database_url)
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    tables, diff = tables_and_diff(database_url)
    assert "schedule_constraints" in tables and diff == []

    command.downgrade(config, "0004")
    tables_before, _ = tables_and_diff(database_url)
    assert tables_before == tables - {"schedule_constraints", "openings"}  # 0006 undone too

    command.upgrade(config, "head")
    assert tables_and_diff(database_url) == (tables, [])
