"""The identity service's migrations go down and up again on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from identity_service.migrate import ALEMBIC_INI, upgrade
from sqlalchemy import create_engine, inspect


def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def _round_trip(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    upgrade(url)
    assert {"accounts", "refresh_tokens", "link_tokens", "outbox"} <= _tables(url)
    monkeypatch.setenv("DATABASE_URL", url)
    config = Config(str(ALEMBIC_INI))
    command.downgrade(config, "base")
    assert _tables(url) <= {"alembic_version"}
    command.upgrade(config, "head")
    assert "accounts" in _tables(url)


def test_down_and_up_on_sqlite(tmp_path: Path, monkeypatch):
    _round_trip(f"sqlite:///{tmp_path / 'identity.sqlite3'}", monkeypatch)


@pytest.mark.postgres
def test_down_and_up_on_postgresql(postgres_server, monkeypatch):
    _round_trip(postgres_server.create_database(f"identity_{uuid.uuid4().hex[:8]}"), monkeypatch)
