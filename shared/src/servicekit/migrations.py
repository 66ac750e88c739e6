"""Alembic plumbing every service's ``migrations/env.py`` and ``migrate`` command share."""

from __future__ import annotations

from pathlib import Path

from alembic import command, context
from alembic.config import Config
from sqlalchemy import MetaData

from servicekit.db import make_engine


def run_alembic_env(metadata: MetaData, default_url: str) -> None:
    """The body of ``env.py``: migrate the URL given to Alembic, else the service's DATABASE_URL."""
    url = context.config.get_main_option("sqlalchemy.url") or default_url
    if context.is_offline_mode():
        context.configure(
            url=url, target_metadata=metadata, render_as_batch=True, literal_binds=True
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


def upgrade_to_head(alembic_ini: Path, database_url: str) -> None:
    config = Config(str(alembic_ini))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    command.upgrade(config, "head")
