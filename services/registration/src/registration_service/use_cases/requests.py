"""Registration requests: accept (persist before answering), decide once, sweep the stragglers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from servicekit.logging_setup import NO_CORRELATION, current_correlation_id
from servicekit.outbox import add_to_outbox
from sqlalchemy import or_, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from registration_service import events
from registration_service.adapters.models import RegistrationRequestRow, SectionRow, outbox
from registration_service.domain.errors import InvalidInput, NotFound
from registration_service.domain.model import Action, RequestStatus, decision_partition
from registration_service.domain.reasons import Reason
from registration_service.domain.rules import Decision
from registration_service.use_cases.catalog import get_program
from registration_service.use_cases.decisions import Outcome, drop, enroll, switch
from registration_service.use_cases.opening import waiting_rooms
from registration_service.use_cases.outcomes import outcome_fields, stage_promotions

# (database, section) -> program. A section never moves to another program, so a program once
# read stays right; the rush path then validates sections without a round trip. A miss reads
# every section of the missing one's program: in the opening minute each web process meets each
# section for the first time (make bench-pages: 800 lookups for 1,000 requests, a fifth of a
# request's CPU in the registration web), and one read now serves them all.
_section_programs: dict[tuple[str, int], int] = {}


class IdempotencyKeyReused(Exception):
    """The same key came back with a different request body."""


@dataclass(frozen=True)
class NewRequest:
    program_id: int
    student_id: int
    action: str
    section_id: int
    from_section_id: int | None = None
    waitlist: bool = False
    idempotency_key: str | None = None
    # Set when an admin process placed it for the student (e.g. "lottery-run:17"): the
    # registration window does not bind it. starts_at: see RegistrationRequestRow.
    origin: str | None = None
    starts_at: datetime | None = None
    # When the web received it: the order its partition's drainer decides it in.
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # Chosen once, so storing it again (the first commit's answer was lost with its connection)
    # finds the row already there instead of storing it twice.
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    # The id of the web request that submitted it (its X-Request-ID), taken where it is built:
    # the group commit may store it from another thread. Its outcome event carries it.
    correlation_id: str | None = field(default_factory=current_correlation_id)

    @property
    def key(self) -> tuple[int, str | None]:
        return (self.student_id, self.idempotency_key)

    def same_as(self, row: RegistrationRequestRow) -> bool:
        return (row.program_id, row.action, row.section_id, row.from_section_id, row.waitlist) == (
            self.program_id,
            self.action,
            self.section_id,
            self.from_section_id,
            self.waitlist,
        )


@dataclass(frozen=True)
class Submitted:
    """What the 202 needs: the request's id and status, and whether this call stored it (False:
    an idempotent replay, whose status may already be final)."""

    id: str
    status: str
    section_id: int
    partition: int
    created: bool = True

    @property
    def queued(self) -> bool:
        return self.status == RequestStatus.QUEUED

    @classmethod
    def replay(cls, row: RegistrationRequestRow) -> Submitted:
        return cls(row.id, row.status, row.section_id, row.decision_partition, created=False)


def check_sections(session: Session, new: NewRequest) -> None:
    """Unknown program or section: 404; a section of another program: 422. Known sections are
    remembered, so on the rush path this costs no round trip."""
    database = str(session.get_bind().engine.url)
    for field_name, section_id in (
        ("section_id", new.section_id),
        ("from_section_id", new.from_section_id),
    ):
        if section_id is None:
            continue
        program_id = _section_programs.get((database, section_id))
        if program_id is None:
            program_id = _learn_sections_of_program(session, database, section_id)
        if program_id != new.program_id:
            get_program(session, new.program_id)  # only now: a section implies its program
            raise InvalidInput(
                {field_name: [f"Section {section_id} is not in program {new.program_id}."]}
            )


def _learn_sections_of_program(session: Session, database: str, section_id: int) -> int:
    """The section's program, and every section of that program remembered (one query)."""
    of_section = select(SectionRow.program_id).where(SectionRow.id == section_id)
    rows = session.execute(
        select(SectionRow.id, SectionRow.program_id).where(
            SectionRow.program_id == of_section.scalar_subquery()
        )
    ).all()
    for known_id, program_id in rows:
        _section_programs[database, known_id] = program_id
    found = _section_programs.get((database, section_id))
    if found is None:
        raise NotFound("section", section_id)
    return found


def check_or_replay(session: Session, new: NewRequest) -> Submitted | None:
    """None when ``new`` may be stored; the request stored earlier under its key when its
    sections no longer check out (a replay still gets its original); else NotFound or
    InvalidInput."""
    try:
        check_sections(session, new)
    except (NotFound, InvalidInput):
        replayed = replay(session, new)
        if replayed is None:
            raise
        return replayed
    return None


def submit(session: Session, new: NewRequest, *, partitions: int) -> Submitted:
    """Validate and persist one request, queued or waiting (see :func:`submit_many`)."""
    replayed = check_or_replay(session, new)
    if replayed is not None:
        return replayed
    (result,) = submit_many(session, [new], partitions=partitions)
    if isinstance(result, Exception):
        raise result
    return result


def replay(session: Session, new: NewRequest) -> Submitted | None:
    """The request stored earlier under this key, if any; a replay still gets its original
    request even if its section went away since."""
    if new.idempotency_key is None:
        return None
    existing = session.scalars(
        select(RegistrationRequestRow).where(
            RegistrationRequestRow.student_id == new.student_id,
            RegistrationRequestRow.idempotency_key == new.idempotency_key,
        )
    ).one_or_none()
    if existing is None:
        return None
    if not new.same_as(existing):
        raise IdempotencyKeyReused(new.idempotency_key)
    return Submitted.replay(existing)


def submit_many(
    session: Session, news: list[NewRequest], *, partitions: int
) -> list[Submitted | IdempotencyKeyReused]:
    """Persist already validated requests with one multi-row insert, in the order given.

    A student's own request received in a program's fair-opening window is stored ``waiting``
    (see :mod:`registration_service.use_cases.opening`), every other one ``queued``.

    ``INSERT ... ON CONFLICT DO NOTHING`` skips a request whose key was used before (the
    unique (student, key) index decides, not a prior read) and one whose id is already stored
    (a retry after a lost commit answer); one query then reads those rows back. A key used for
    a different request gives :class:`IdempotencyKeyReused` in that request's place; the others
    are stored regardless.
    """
    rooms = waiting_rooms(session, {new.program_id for new in news if new.origin is None})

    def status(new: NewRequest) -> RequestStatus:
        room = rooms.get(new.program_id) if new.origin is None else None
        waits = room is not None and room.takes(new.received_at)
        return RequestStatus.WAITING if waits else RequestStatus.QUEUED

    rows = [
        {
            "id": new.id,
            "program_id": new.program_id,
            "student_id": new.student_id,
            "action": new.action,
            "section_id": new.section_id,
            "from_section_id": new.from_section_id,
            "waitlist": new.waitlist,
            "idempotency_key": new.idempotency_key,
            "origin": new.origin,
            "starts_at": new.starts_at,
            "status": status(new),
            "decision_partition": decision_partition(new.section_id, partitions),
            "created_at": new.received_at,
            "enqueued_at": new.received_at,
            "correlation_id": new.correlation_id,
        }
        for new in news
    ]
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(RegistrationRequestRow).on_conflict_do_nothing().returning(RegistrationRequestRow.id)
    )
    stored = set(session.scalars(statement, rows).all())
    earlier = _stored_earlier(session, [new for new in news if new.id not in stored])
    results: list[Submitted | IdempotencyKeyReused] = []
    for new, row in zip(news, rows, strict=True):
        existing = None if new.id in stored else earlier.get(new.id) or earlier[new.key]
        if existing is None or existing.id == new.id:  # stored now, or by a lost commit
            results.append(
                Submitted(new.id, row["status"], new.section_id, row["decision_partition"])
            )
        elif new.same_as(existing):
            results.append(Submitted.replay(existing))
        else:
            results.append(IdempotencyKeyReused(new.idempotency_key))
    return results


def _stored_earlier(
    session: Session, skipped: list[NewRequest]
) -> dict[object, RegistrationRequestRow]:
    """The rows that made the insert skip these requests, by request id and by (student, key)."""
    if not skipped:
        return {}
    keys = sorted({new.key for new in skipped if new.idempotency_key is not None}, key=str)
    clauses = [RegistrationRequestRow.id.in_([new.id for new in skipped])]
    if keys:
        pair = tuple_(RegistrationRequestRow.student_id, RegistrationRequestRow.idempotency_key)
        clauses.append(pair.in_(keys))
    found: dict[object, RegistrationRequestRow] = {}
    for row in session.scalars(select(RegistrationRequestRow).where(or_(*clauses))):
        found[row.id] = row
        found[row.student_id, row.idempotency_key] = row
    return found


def get_request(session: Session, request_id: str) -> RegistrationRequestRow:
    row = session.get(RegistrationRequestRow, request_id)
    if row is None:
        raise NotFound("registration request", request_id)
    return row


def student_requests(
    session: Session, program_id: int, student_id: int, limit: int = 200
) -> list[RegistrationRequestRow]:
    """A student's requests in a program, newest first: what a page lists and the support desk
    looks up."""
    get_program(session, program_id)
    return list(
        session.scalars(
            select(RegistrationRequestRow)
            .where(
                RegistrationRequestRow.program_id == program_id,
                RegistrationRequestRow.student_id == student_id,
            )
            .order_by(RegistrationRequestRow.created_at.desc(), RegistrationRequestRow.id)
            .limit(limit)
        )
    )


def decide(
    session: Session, request_id: str, when: datetime | None = None
) -> RegistrationRequestRow | None:
    """Decide a queued request exactly once; None when it is unknown or already decided.

    The request row is locked first, so a concurrent caller for the same request waits, then
    finds it decided; drainers are already serialised by their partition's lock.
    """
    row = _locked_if_queued(session, request_id)
    if row is None:
        return None
    when = when or datetime.now(UTC)
    try:
        outcome = _run(session, row, when)
    except NotFound:  # the section was removed after the request was accepted
        outcome = None
    _record(session, row, outcome, when)
    return row


def give_up(
    session: Session, request_id: str, when: datetime | None = None
) -> RegistrationRequestRow | None:
    """End a queued request ``rejected`` / ``decision_failed``: its decision keeps failing, and
    the requests behind it in its partition must not wait for a fix. None when it is unknown or
    already decided."""
    row = _locked_if_queued(session, request_id)
    if row is not None:
        failed = Outcome(Decision.reject(Reason.DECISION_FAILED))
        _record(session, row, failed, when or datetime.now(UTC))
    return row


def _locked_if_queued(session: Session, request_id: str) -> RegistrationRequestRow | None:
    """The request, locked for this transaction, while it is still queued; else None."""
    row = session.scalars(
        select(RegistrationRequestRow)
        .where(RegistrationRequestRow.id == request_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    return row if row is not None and row.status == RequestStatus.QUEUED else None


def _run(session: Session, row: RegistrationRequestRow, when: datetime) -> Outcome:
    action = Action(row.action)  # an unknown action raises: it is never taken for a switch
    if action is Action.ENROLL:
        return enroll(
            session,
            student_id=row.student_id,
            section_id=row.section_id,
            waitlist=row.waitlist,
            when=when,
            program_id=row.program_id,
            placed_by_admin=row.origin is not None,
            starts_at=row.starts_at,
        )
    if action is Action.DROP:
        return drop(
            session,
            student_id=row.student_id,
            section_id=row.section_id,
            when=when,
            placed_by_admin=row.origin is not None,
            starts_at=row.starts_at,
        )
    if row.from_section_id is None:
        raise ValueError(f"switch request {row.id} names no section to give up")
    return switch(
        session,
        student_id=row.student_id,
        from_section_id=row.from_section_id,
        to_section_id=row.section_id,
        when=when,
    )


def _record(
    session: Session, row: RegistrationRequestRow, outcome: Outcome | None, when: datetime
) -> None:
    decision = outcome.decision if outcome else Decision.reject(Reason.SECTION_REMOVED)
    for name, value in outcome_fields(decision).items():
        setattr(row, name, value)
    row.decided_at = when
    session.flush()
    # The student's stream first: once an outcome is announced on the shared stream it is in
    # the student's, so a page's fan-out that hears of it always finds it (outcome_fanout).
    streams = (events.student_stream(row.student_id), events.OUTCOMES_STREAM)
    cid = row.correlation_id or NO_CORRELATION  # the request's, not the worker's context
    add_to_outbox(session, outbox, streams, events.outcome_decided.event(row, correlation_id=cid))
    if outcome and outcome.promoted_student_ids:
        switched = row.action == Action.SWITCH and row.from_section_id is not None
        freed = row.from_section_id if switched and row.from_section_id else row.section_id
        stage_promotions(
            session, row.program_id, freed, outcome.promoted_student_ids, when, freed_by=row
        )


def stale_partitions(session: Session, older_than: timedelta, partitions: int) -> list[int]:
    """Partitions holding a request still queued ``older_than`` after it was stored or last
    swept.

    First moves any queued request whose partition is not its section's (stored before
    ``DECISION_PARTITIONS`` changed) to the right one, so no drainer ever misses it.
    """
    requests = RegistrationRequestRow
    right = requests.section_id % partitions
    session.execute(
        update(requests)
        .where(requests.status == RequestStatus.QUEUED, requests.decision_partition != right)
        .values(decision_partition=right)
        .execution_options(synchronize_session=False)
    )
    cutoff = datetime.now(UTC) - older_than
    return list(
        session.scalars(
            select(requests.decision_partition)
            .where(requests.status == RequestStatus.QUEUED, requests.enqueued_at < cutoff)
            .distinct()
            .order_by(requests.decision_partition)
        )
    )


def mark_swept(session: Session, partitions: list[int], older_than: timedelta) -> None:
    """The partitions' stale requests were rung for: not again before ``older_than``."""
    if not partitions:
        return
    now = datetime.now(UTC)
    requests = RegistrationRequestRow
    session.execute(
        update(requests)
        .where(
            requests.status == RequestStatus.QUEUED,
            requests.decision_partition.in_(partitions),
            requests.enqueued_at < now - older_than,
        )
        .values(enqueued_at=now)
        .execution_options(synchronize_session=False)
    )
