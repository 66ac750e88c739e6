"""0006 adds two program columns and the openings table: undone and done again, the schema is
the models' and programs keep their rows."""

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from registration_service.adapters.db import make_session_factory
from registration_service.adapters.models import Base
from registration_service.migrate import ALEMBIC_INI
from registration_testkit import CatalogBuilder
from sqlalchemy import inspect, text


def tables_and_diff(database_url):
    engine, _ = make_session_factory(database_url)
    with engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    return tables, diff


def test_fair_opening_migrates_down_and_up_again(database_url):
    _, sessions = make_session_factory(database_url)
    with sessions() as session, session.begin():
        CatalogBuilder(session).program()
    config = Config(str(ALEMBIC_INI))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    tables, diff = tables_and_diff(database_url)
    assert "openings" in tables and diff == []

    command.downgrade(config, "0005")
    tables_before, _ = tables_and_diff(database_url)
    assert tables_before == tables - {"openings"}
    engine, _ = make_session_factory(database_url)
    with engine.connect() as connection:
        columns = {c["name"] for c in inspect(connection).get_columns("programs")}
    assert "opening_window_seconds" not in columns

    command.upgrade(config, "head")
    assert tables_and_diff(database_url) == (tables, [])
    with engine.connect() as connection:
        limit = connection.execute(text("SELECT waitlist_limit_per_timeslot FROM programs"))
        assert limit.scalar_one() == 1
    engine.dispose()
