"""The transactional outbox: write an event in the same transaction as the change it describes,
then relay it to its Redis Stream. A crash between commit and publish delays an event, never
loses it; a crash between publish and marking it sent publishes it twice, which consumers
absorb by ``event_id``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Column,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    select,
    update,
)
from sqlalchemy.orm import Session

from servicekit.db import UtcDateTime
from servicekit.events import Event, StreamPublisher

log = logging.getLogger(__name__)


def define_outbox_table(metadata: MetaData, name: str = "outbox") -> Table:
    """Each service owns its outbox table; this only gives every one the same shape."""
    return Table(
        name,
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("event_id", String(64), nullable=False),
        Column("stream", String(200), nullable=False),
        Column("event_type", String(200), nullable=False),
        Column("body", Text, nullable=False),
        Column("created_at", UtcDateTime(), nullable=False),
        Column("published_at", UtcDateTime(), nullable=True),
        Index(f"ix_{name}_unpublished", "published_at", "id"),
        # One event may fan out to several streams, each once.
        UniqueConstraint("event_id", "stream", name=f"uq_{name}_event_id_stream"),
    )


def outbox_rows(streams: str | Sequence[str], event: Event) -> list[dict[str, Any]]:
    """The outbox rows for one event on one stream or several, for a batch's ``executemany``."""
    created_at = datetime.now(UTC)
    body = event.to_json()
    return [
        {
            "event_id": event.event_id,
            "stream": stream,
            "event_type": event.event_type,
            "body": body,
            "created_at": created_at,
        }
        for stream in ([streams] if isinstance(streams, str) else streams)
    ]


def add_to_outbox(
    session: Session, table: Table, streams: str | Sequence[str], event: Event
) -> None:
    """Stage an event for one stream or several (one statement) in the caller's transaction;
    it is published only if that commits."""
    session.execute(table.insert(), outbox_rows(streams, event))


def relay_outbox(engine: Engine, table: Table, publisher: StreamPublisher, batch: int = 200) -> int:
    """Publish up to ``batch`` unpublished events in order, in one Redis round trip; returns how
    many were published. A crash between publishing and marking them sent publishes them again:
    consumers drop duplicates by ``event_id``."""
    with engine.begin() as connection:
        query = (
            select(table.c.id, table.c.stream, table.c.body)
            .where(table.c.published_at.is_(None))
            .order_by(table.c.id)
            .limit(batch)
        )
        if engine.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        rows = connection.execute(query).all()
        if rows:
            publisher.publish_many([(row.stream, row.body) for row in rows])
            connection.execute(
                update(table)
                .where(table.c.id.in_([row.id for row in rows]))
                .values(published_at=datetime.now(UTC))
            )
    return len(rows)
