"""Engines for SQLite (the embedded default) and PostgreSQL, set up for concurrent writes."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import DateTime, Engine, TypeDecorator, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

# A process that vanishes (a host lost, a frozen VM) must not hold its locks for the kernel's two
# hours: keepalives notice a dead peer within about a minute, and a transaction left idle for a
# minute is ended by the server, releasing its row and advisory locks.
POSTGRES_CONNECT_ARGS: dict[str, Any] = {
    "keepalives": 1,
    "keepalives_idle": 30,
    "keepalives_interval": 10,
    "keepalives_count": 3,
    "options": "-c idle_in_transaction_session_timeout=60000",
}


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine; SQLite gets WAL, a busy timeout, foreign keys and BEGIN IMMEDIATE.

    SQLite's default deferred transactions can fail with "database is locked" when two readers
    both try to upgrade to writers; starting every transaction IMMEDIATE makes writers queue on
    the busy timeout instead, which concurrent writers (the web's grouped inserts, the drainers'
    batches) need.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        if parsed.get_backend_name() == "postgresql":
            kwargs["connect_args"] = {**POSTGRES_CONNECT_ARGS, **kwargs.get("connect_args", {})}
        return create_engine(url, **kwargs)

    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    connect_args = {"timeout": 30, "check_same_thread": False, **kwargs.pop("connect_args", {})}
    engine = create_engine(url, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # let the "begin" hook below own BEGIN
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def make_session_factory(url: str, **kwargs: Any) -> tuple[Engine, sessionmaker[Session]]:
    """An engine (see :func:`make_engine`) and its session factory; sessions keep their
    objects readable after commit, so a use case can answer with what it just wrote."""
    engine = make_engine(url, **kwargs)
    return engine, sessionmaker(engine, expire_on_commit=False)


def ping_database(engine: Engine) -> None:
    """Raise unless the database answers a trivial query (for ``/readyz``)."""
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite forgets the zone otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware UTC datetimes")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
