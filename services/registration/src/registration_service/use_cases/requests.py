"""Registration requests: accept (persist before answering), decide once, sweep the stragglers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from servicekit.events import Event
from servicekit.outbox import add_to_outbox
from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from registration_service.adapters.models import RegistrationRequestRow, outbox
from registration_service.domain.errors import InvalidInput, NotFound
from registration_service.domain.reasons import Reason, message_for
from registration_service.use_cases.catalog import PRODUCER, get_program, get_section
from registration_service.use_cases.decisions import Outcome, drop, enroll, switch

OUTCOME_EVENT = "registration.outcome.decided.v1"
PROMOTED_EVENT = "registration.waitlist.promoted.v1"
OUTCOMES_STREAM = "registration.outcomes"


def student_stream(student_id: int) -> str:
    """The Redis Stream a student's outcomes are fanned out to, for their SSE connection."""
    return f"registration.outcomes.student.{student_id}"


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
    """What the 202 needs: the request's id and current status, and where to send it."""

    id: str
    status: str
    section_id: int

    @classmethod
    def of(cls, row: RegistrationRequestRow) -> Submitted:
        return cls(row.id, row.status, row.section_id)


def submit(session: Session, new: NewRequest) -> tuple[Submitted, bool]:
    """Persist a queued request; returns it and whether it is new (False: an idempotent replay,
    whose status may already be final).

    On the rush path this is one lookup and one ``INSERT ... ON CONFLICT DO NOTHING``: the unique
    (student, key) index, not a prior read, decides whether the key was seen before.
    """
    try:
        _check_sections(session, new)
    except (NotFound, InvalidInput):
        # A replay still gets its original request, even if its section went away since.
        existing = _by_key(session, new.student_id, new.idempotency_key)
        if existing is None:
            raise
        return Submitted.of(_replayed(existing, new)), False
    now = datetime.now(UTC)
    values = {**new.__dict__, "id": uuid.uuid4().hex, "status": "queued"}
    values |= {"created_at": now, "enqueued_at": now}
    dialect = session.get_bind().dialect.name
    insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
    inserted = session.execute(
        insert(RegistrationRequestRow)
        .values(values)
        .on_conflict_do_nothing(index_elements=["student_id", "idempotency_key"])
        .returning(RegistrationRequestRow.id)
    ).scalar_one_or_none()
    if inserted is None:  # the key was used before (or concurrently, and that one won)
        existing = _by_key(session, new.student_id, new.idempotency_key)
        assert existing is not None, "a conflict implies a row with this key"
        return Submitted.of(_replayed(existing, new)), False
    return Submitted(values["id"], "queued", new.section_id), True


def _by_key(session: Session, student_id: int, key: str | None) -> RegistrationRequestRow | None:
    if key is None:
        return None
    return session.scalars(
        select(RegistrationRequestRow).where(
            RegistrationRequestRow.student_id == student_id,
            RegistrationRequestRow.idempotency_key == key,
        )
    ).one_or_none()


def _replayed(existing: RegistrationRequestRow, new: NewRequest) -> RegistrationRequestRow:
    if not new.same_as(existing):
        raise IdempotencyKeyReused(new.idempotency_key)
    return existing


def _check_sections(session: Session, new: NewRequest) -> None:
    """Unknown program or section: 404; a section of another program: 422."""
    for field, section_id in (
        ("section_id", new.section_id),
        ("from_section_id", new.from_section_id),
    ):
        if section_id is None:
            continue
        section = get_section(session, section_id)
        if section.program_id != new.program_id:
            get_program(session, new.program_id)  # only now: a section implies its program
            raise InvalidInput(
                {field: [f"Section {section_id} is not in program {new.program_id}."]}
            )


def get_request(session: Session, request_id: str) -> RegistrationRequestRow:
    row = session.get(RegistrationRequestRow, request_id)
    if row is None:
        raise NotFound("registration request", request_id)
    return row


def decide(
    session: Session, request_id: str, when: datetime | None = None
) -> RegistrationRequestRow | None:
    """Decide a queued request exactly once; None when it is unknown or already decided.

    The request row is locked first, so a redelivered task waits for the first one and then
    finds the request decided.
    """
    row = session.scalars(
        select(RegistrationRequestRow)
        .where(RegistrationRequestRow.id == request_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one_or_none()
    if row is None or row.status != "queued":
        return None
    when = when or datetime.now(UTC)
    try:
        outcome = _run(session, row, when)
    except NotFound:  # the section was removed after the request was accepted
        outcome = None
    _record(session, row, outcome, when)
    return row


def _run(session: Session, row: RegistrationRequestRow, when: datetime) -> Outcome:
    if row.action == "enroll":
        return enroll(
            session,
            student_id=row.student_id,
            section_id=row.section_id,
            waitlist=row.waitlist,
            when=when,
            program_id=row.program_id,
        )
    if row.action == "drop":
        return drop(session, student_id=row.student_id, section_id=row.section_id, when=when)
    return switch(
        session,
        student_id=row.student_id,
        from_section_id=row.from_section_id or 0,
        to_section_id=row.section_id,
        when=when,
    )


def _record(
    session: Session, row: RegistrationRequestRow, outcome: Outcome | None, when: datetime
) -> None:
    if outcome is None:
        row.status, row.reason, row.message = (
            "rejected",
            Reason.SECTION_REMOVED.value,
            message_for(Reason.SECTION_REMOVED),
        )
    else:
        decision = outcome.decision
        row.status = "accepted" if decision.accepted else "rejected"
        row.reason = decision.reason.value if decision.reason else None
        row.message = decision.message
        row.verb = decision.verb
    row.decided_at = when
    session.flush()
    event = Event(OUTCOME_EVENT, PRODUCER, outcome_payload(row))
    add_to_outbox(session, outbox, (OUTCOMES_STREAM, student_stream(row.student_id)), event)
    for student_id in outcome.promoted_student_ids if outcome else ():
        promoted = Event(
            PROMOTED_EVENT,
            PRODUCER,
            {
                "student_id": student_id,
                "section_id": row.section_id if row.action != "switch" else row.from_section_id,
                "program_id": row.program_id,
                "verb": "Enrolled",
                "decided_at": when.isoformat(),
            },
        )
        add_to_outbox(session, outbox, (OUTCOMES_STREAM, student_stream(student_id)), promoted)


def outcome_payload(row: RegistrationRequestRow) -> dict:
    return {
        "id": row.id,
        "program_id": row.program_id,
        "student_id": row.student_id,
        "action": row.action,
        "section_id": row.section_id,
        "from_section_id": row.from_section_id,
        "status": row.status,
        "reason": row.reason,
        "message": row.message,
        "verb": row.verb,
        "decided_at": row.decided_at.isoformat() if row.decided_at else None,
    }


def stale_requests(
    session: Session, older_than: timedelta, limit: int = 1000
) -> list[tuple[str, int]]:
    """Requests still queued ``older_than`` after they were last sent: ``[(id, section_id)]``."""
    cutoff = datetime.now(UTC) - older_than
    rows = session.execute(
        select(RegistrationRequestRow.id, RegistrationRequestRow.section_id)
        .where(
            RegistrationRequestRow.status == "queued",
            RegistrationRequestRow.enqueued_at < cutoff,
        )
        .order_by(RegistrationRequestRow.created_at)
        .limit(limit)
    ).all()
    return [(request_id, section_id) for request_id, section_id in rows]


def mark_resent(session: Session, request_ids: list[str]) -> None:
    if request_ids:
        session.execute(
            update(RegistrationRequestRow)
            .where(RegistrationRequestRow.id.in_(request_ids))
            .values(enqueued_at=datetime.now(UTC))
        )
