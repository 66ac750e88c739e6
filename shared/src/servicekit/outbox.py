"""The transactional outbox: write an event in the same transaction as the change it describes,
then relay it to its Redis Stream. A crash between commit and publish delays an event, never
loses it; a crash between publish and marking it sent publishes it twice, which consumers
absorb by ``event_id``. A Redis crash may lose the last second or two of what it was sent: the
relay notices the restart and publishes again each recent event its stream no longer holds
(:class:`OutboxRelay`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
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


# Redis syncs its append-only file once a second and may lose up to about two seconds of
# writes in a crash; an event published that long before Redis was last seen alive may be gone.
LOSS_MARGIN = timedelta(seconds=10)
# A relay that starts does not know whether Redis restarted while it was down: it checks the
# events it published this long ago.
STARTUP_WINDOW = timedelta(seconds=60)


def republish_lost(
    engine: Engine, table: Table, publisher: StreamPublisher, since: datetime
) -> int:
    """Publish again every event marked sent since ``since`` that its stream no longer holds
    (Redis lost it in a crash); returns how many. Events still there are not published twice,
    so a page that saw them sees nothing new; consumers drop any duplicate by ``event_id``."""
    with engine.connect() as connection:
        rows = connection.execute(
            select(table.c.event_id, table.c.stream, table.c.body)
            .where(table.c.published_at >= since)
            .order_by(table.c.id)
        ).all()
    if not rows:
        return 0
    # Stream ids are Redis's clock in milliseconds: read from a little before ``since``.
    start = f"{int((since - LOSS_MARGIN).timestamp() * 1000)}-0"
    streams = sorted({row.stream for row in rows})
    held = {
        (stream, event_id)
        for stream, entries in zip(streams, publisher.read_since(streams, start), strict=True)
        for event_id in entries
    }
    lost = [(row.stream, row.body) for row in rows if (row.stream, row.event_id) not in held]
    if lost:
        publisher.publish_many(lost)
        log.warning("Redis lost %d published events; published them again", len(lost))
    return len(lost)


class OutboxRelay:
    """A service's relay: publishes the outbox and, when Redis has restarted (its ``run_id``
    changed), publishes again what the restart lost. Call :meth:`publish` and :meth:`recover`
    as cycles of :func:`servicekit.background.run_forever`."""

    def __init__(self, engine: Engine, table: Table, publisher: StreamPublisher) -> None:
        self.engine = engine
        self.table = table
        self.publisher = publisher
        self._run_id: str | None = None
        self._alive_at = datetime.now(UTC)  # when the Redis we know was last seen alive
        self._lost_since: datetime | None = datetime.now(UTC) - STARTUP_WINDOW

    def publish(self) -> int:
        return relay_outbox(self.engine, self.table, self.publisher)

    def recover(self) -> int:
        """Notice a Redis restart; republish what it lost. A failure keeps the work for the
        next call (Redis may still be coming back)."""
        run_id = self.publisher.run_id()
        now = datetime.now(UTC)
        if self._run_id is not None and run_id != self._run_id:
            log.warning(
                "Redis restarted (run id %s, was %s); checking recent events", run_id, self._run_id
            )
            since = self._alive_at - LOSS_MARGIN
            self._lost_since = since if self._lost_since is None else min(self._lost_since, since)
        self._run_id, self._alive_at = run_id, now
        if self._lost_since is None:
            return 0
        republished = republish_lost(self.engine, self.table, self.publisher, self._lost_since)
        self._lost_since = None
        return republished
