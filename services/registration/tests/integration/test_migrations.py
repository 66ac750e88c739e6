"""The migrations build exactly the schema the models describe."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from registration_service.adapters.db import make_session_factory
from registration_service.adapters.models import Base


def test_migrations_match_the_models(database_url):
    engine, _ = make_session_factory(database_url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert diff == []
