"""Draining a partition: its queued requests decided oldest first, a batch per transaction.

Every transaction first takes the partition's PostgreSQL advisory lock (SQLite serialises every
writer anyway) and then reads the oldest queued requests. So two drainers of one partition (a
redelivered doorbell, a second worker by mistake) take turns, and whichever comes next starts
from the oldest request still queued (by when the web received it): a section's requests are
decided oldest first whoever decides them. A crash rolls back the open batch; its requests stay
queued, first in line.

A batch is the leading run of enroll requests (decided together, see :mod:`batch_decisions`),
the leading run of drops an admin process placed (a lottery run's revert, see
:mod:`batch_drops`), or a single other request: a student's own drop or a switch, decided one at
a time (the window and the schedule constraints bind it, and it may promote a waitlist).
When the database refuses a batch (another partition seated one of its students meanwhile), it
is rolled back and read again with a fresh snapshot. A batch that fails for any other reason is
treated the same way. If the second try fails too, its requests are decided one at a time, each
in its own transaction. A request whose
decision still fails alone ends ``rejected`` / ``decision_failed`` (logged with its traceback),
so one bad request never holds up its partition.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from sqlalchemy import Row, bindparam, func, select
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from registration_service.adapters.models import RegistrationRequestRow
from registration_service.domain.model import Action, RequestStatus
from registration_service.metrics import DECISION_BATCH_SECONDS, record_decision
from registration_service.use_cases.batch_decisions import BatchRefused, decide_enrollments
from registration_service.use_cases.batch_drops import QueuedDrop, decide_drops
from registration_service.use_cases.batch_snapshot import QueuedEnroll
from registration_service.use_cases.decisions import RETRYABLE_SQLSTATES
from registration_service.use_cases.outcomes import log_decided
from registration_service.use_cases.requests import decide, give_up

log = logging.getLogger(__name__)

# pg_advisory_xact_lock(namespace, partition): the namespace keeps our keys apart.
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
        _queued.origin,
        _queued.starts_at,
        _queued.correlation_id,
        _queued.created_at,
    )
    .where(
        _queued.status == RequestStatus.QUEUED, _queued.decision_partition == bindparam("partition")
    )
    .order_by(_queued.created_at, _queued.id)
    .limit(bindparam("limit"))
)
LOCK = select(func.pg_advisory_xact_lock(LOCK_NAMESPACE, bindparam("partition")))


@dataclass(frozen=True)
class Drained:
    decided: int
    batches: int  # transactions that decided something
    fallbacks: int  # batches refused twice, then decided one request at a time
    more: bool  # the last batch was full: the partition may hold more


def lock_partition(session: Session, partition: int) -> None:
    """Until this transaction ends, no other drainer decides for the partition."""
    if session.get_bind().dialect.name == "postgresql":
        session.connection().execute(LOCK, {"partition": partition})


class Attempt(Enum):
    DECIDED = "decided"
    REFUSED = "refused"  # the database refused the batch: rolled back, read it again
    FAILED = "failed"  # a decision raised (a bug, bad data): rolled back


def drain_partition(
    sessions: sessionmaker[Session], partition: int, *, batch_size: int, max_batches: int
) -> Drained:
    """Decide up to ``max_batches`` batches of the partition's queued requests."""
    decided = batches = fallbacks = 0
    singles = 0  # requests still to decide one at a time, after a refused batch
    refused_once = False
    more = True
    for _ in range(2 * max_batches):  # a refused batch is read once more
        limit = 1 if singles else batch_size
        with sessions() as session:
            read, head, attempt = _run_batch(session, partition, limit, singles > 0)
        if not read:
            more = False
            break
        if attempt is Attempt.FAILED and singles:
            # One request the decision cannot get through: it ends rejected rather than hold
            # up every request behind it in its partition.
            _give_up(sessions, partition, head[0].id)
            attempt = Attempt.DECIDED
        if attempt is not Attempt.DECIDED:
            if refused_once:
                fallbacks += 1
                singles, refused_once = len(head), False
            else:
                refused_once = True
            continue
        refused_once = False
        batches += 1
        decided += len(head)
        singles = max(0, singles - len(head))
        more = len(head) < read or read == limit or singles > 0
        if not more or batches >= max_batches:
            break
    return Drained(decided, batches, fallbacks, more)


def _kind(row: Row[Any]) -> str:
    """How a queued request is decided: ``enroll`` and ``revert`` (an admin process's drop) in
    runs of their kind, anything else alone."""
    if row.action == Action.ENROLL:
        return "enroll"
    if row.action == Action.DROP and row.origin is not None:
        return "revert"
    return "alone"


def _head(rows: list) -> list:
    """The leading run of enrolls, or of an admin process's drops; else the first request."""
    kind = _kind(rows[0])
    if kind == "alone":
        return rows[:1]
    run = []
    for row in rows:
        if _kind(row) != kind:
            break
        run.append(row)
    return run


def _run_batch(
    session: Session, partition: int, limit: int, one_at_a_time: bool
) -> tuple[int, list, Attempt]:
    """Read the queue's head and decide it in one transaction: (rows read, head, attempt).
    Unless the attempt is DECIDED, the transaction was rolled back. A database that is gone
    (OperationalError) is raised: the task retries later."""
    read, head = 0, []
    lines: list[tuple[str, str | None, str, str | None]] = []  # logged once committed
    started = time.perf_counter()
    try:
        with session.begin():
            lock_partition(session, partition)
            rows = session.connection().execute(QUEUED, {"partition": partition, "limit": limit})
            rows = rows.all()
            read, head = len(rows), _head(rows) if rows else []
            if not head:
                return 0, [], Attempt.DECIDED
            kind = _kind(head[0])
            if one_at_a_time or kind == "alone":
                row = decide(session, head[0].id)
                if row is not None:
                    lines.append((row.id, row.correlation_id, row.status, row.reason))
            else:
                now = datetime.now(UTC)
                if kind == "revert":
                    decided = decide_drops(session, [QueuedDrop.of(r) for r in head], now)
                else:
                    decided = decide_enrollments(session, [QueuedEnroll.of(r) for r in head], now)
                lines += [(d.id, d.correlation_id, d.status, d.reason) for d in decided]
    except (BatchRefused, IntegrityError) as exc:
        log.info("batch of %d refused: %s", len(head), exc)
        return read, head, Attempt.REFUSED
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES:
            log.info("batch of %d lost a deadlock", len(head))
            return read, head, Attempt.REFUSED
        if isinstance(exc, OperationalError):
            raise
        log.exception("batch of %d failed", len(head))
        return read, head, Attempt.FAILED
    except Exception:  # DecisionRetriesExhausted included: alone, under the lock, it is no race
        log.exception("batch of %d failed", len(head))
        return read, head, Attempt.FAILED
    for line in lines:
        log_decided(*line)
    _count_decided(head, lines, started)
    return read, head, Attempt.DECIDED


def _count_decided(
    head: list, lines: list[tuple[str, str | None, str, str | None]], started: float
) -> None:
    """Metrics of a committed batch: its time, and each decision with its time since the 202."""
    DECISION_BATCH_SECONDS.observe(time.perf_counter() - started)
    created = {row.id: row.created_at for row in head}
    now = datetime.now(UTC)
    for request_id, _, status, reason in lines:
        record_decision(status, reason, created.get(request_id), now)


def _give_up(sessions: sessionmaker[Session], partition: int, request_id: str) -> None:
    with sessions() as session:
        with session.begin():
            lock_partition(session, partition)
            row = give_up(session, request_id)
            line = None if row is None else (row.id, row.correlation_id, row.status, row.reason)
        if line:
            log_decided(*line)
            record_decision(line[2], line[3])
