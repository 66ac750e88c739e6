"""Draining a partition: its queued requests decided in commit order, a batch per transaction.

One drainer per partition at a time: the drainer holds a PostgreSQL session advisory lock for
the partition while it drains (SQLite serialises every writer anyway). A second drainer, say a
redelivered doorbell, waits and then finds the queue drained, so a section's requests are never
decided out of order. A crash closes the connection, which releases the lock and rolls back the
open batch; its requests stay queued and the next doorbell decides them.

A batch is the leading run of enroll requests (decided together, see :mod:`batch_decisions`),
or a single drop or switch (decided one at a time: it frees seats and may promote a waitlist).
When the database refuses a batch, it is rolled back and its requests are decided one at a time,
each in its own transaction, still under the partition lock.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, Engine, Select, func, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from registration_service.adapters.models import RegistrationRequestRow
from registration_service.use_cases.batch_decisions import BatchRefused, decide_enrollments
from registration_service.use_cases.batch_snapshot import QueuedEnroll
from registration_service.use_cases.decisions import RETRYABLE_SQLSTATES
from registration_service.use_cases.requests import decide

log = logging.getLogger(__name__)

# pg_advisory_lock(namespace, partition): the namespace keeps our keys apart from anyone else's.
LOCK_NAMESPACE = 0x52454731  # "REG1"

_queued = RegistrationRequestRow.__table__.c
QUEUED = (
    select(
        _queued.id,
        _queued.program_id,
        _queued.student_id,
        _queued.action,
        _queued.section_id,
        _queued.waitlist,
    )
    .where(_queued.status == "queued")
    .order_by(_queued.created_at, _queued.id)
)


@dataclass(frozen=True)
class Drained:
    decided: int
    batches: int
    fallbacks: int  # batches the database refused, then decided one request at a time
    more: bool  # the last batch was full: the partition may hold more


@contextmanager
def partition_lock(engine: Engine, partition: int) -> Iterator[Connection]:
    """A connection holding the partition's lock until the block ends."""
    with engine.connect() as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            connection.execute(select(func.pg_advisory_lock(LOCK_NAMESPACE, partition)))
            connection.commit()
        try:
            yield connection
        finally:
            if postgres and not connection.invalidated:
                connection.rollback()
                connection.execute(select(func.pg_advisory_unlock(LOCK_NAMESPACE, partition)))
                connection.commit()


def drain_partition(
    engine: Engine, partition: int, *, batch_size: int, max_batches: int
) -> Drained:
    """Decide up to ``max_batches`` batches of the partition's queued requests."""
    decided = batches = fallbacks = 0
    more = False
    query = QUEUED.where(_queued.decision_partition == partition).limit(batch_size)
    with partition_lock(engine, partition) as connection:
        while batches < max_batches:
            with Session(bind=connection, expire_on_commit=False) as session:
                read, head, refused = _run_batch(session, query)
            if not read:
                break
            batches += 1
            if refused:
                fallbacks += 1
                for request in head:
                    with Session(bind=connection) as session, session.begin():
                        decide(session, request.id)
            decided += len(head)
            more = len(head) < read or read == batch_size
            if not more:
                break
    return Drained(decided, batches, fallbacks, more)


def _head(rows: list) -> list:
    """The leading run of enroll requests, or the first request alone when it is not one."""
    if rows[0].action != "enroll":
        return rows[:1]
    run = []
    for row in rows:
        if row.action != "enroll":
            break
        run.append(row)
    return run


def _run_batch(session: Session, query: Select) -> tuple[int, list, bool]:
    """Read a batch and decide its head in one transaction: (rows read, head, refused). When
    the database refuses the head, the transaction is rolled back and ``refused`` is True."""
    read, head = 0, []
    try:
        with session.begin():
            rows = session.execute(query).all()
            read, head = len(rows), _head(rows) if rows else []
            if not head:
                return 0, [], False
            if head[0].action != "enroll":
                decide(session, head[0].id)
            else:
                batch = [
                    QueuedEnroll(r.id, r.program_id, r.student_id, r.section_id, r.waitlist)
                    for r in head
                ]
                decide_enrollments(session, batch, datetime.now(UTC))
    except (BatchRefused, IntegrityError) as exc:
        log.info("batch of %d refused (%s); deciding one at a time", len(head), exc)
        return read, head, True
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) not in RETRYABLE_SQLSTATES:
            raise
        log.info("batch of %d lost a deadlock; deciding one at a time", len(head))
        return read, head, True
    return read, head, False
