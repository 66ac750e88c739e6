"""A student's outcomes as the database remembers them, for an outcome stream resumed from
further back than Redis keeps (``STREAM_RETENTION_SECONDS``; see
:mod:`registration_service.outcome_fanout`).

Each outcome is the data of its Server-Sent Event, as the live stream gives it: the event's
payload with ``event_type`` and ``correlation_id``, built by the same event specs.

- **Decided requests** come from ``registration_requests``: every field of
  ``registration.outcome.decided.v1`` is on the row.
- **Waitlist promotions** have no row of their own; they are read back from the registrations a
  promotion writes: the student's ``Waitlisted`` registration in a section ended at the very
  moment an ``Enrolled`` one in the same section started, and no enroll request of the
  student's was decided then (a student enrolling from the waitlist ends it the same way). The
  request that freed the seat is the accepted drop of that section, or switch out of it, decided
  at that moment; none means an organiser made room, whose call's id was never stored, so such
  a promotion carries ``"-"`` as its ``correlation_id``.

:func:`announce_outcomes` stages decided requests' outcomes again on ``registration.outcomes``
for a consumer that missed them (the lottery's outcome reader, stopped longer than the
retention).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from servicekit.events import Event
from servicekit.logging_setup import NO_CORRELATION
from servicekit.outbox import outbox_rows
from sqlalchemy import and_, exists, or_, select
from sqlalchemy.orm import Session, aliased

from registration_service import events
from registration_service.adapters.models import (
    RegistrationRequestRow,
    RegistrationTypeRow,
    StudentRegistrationRow,
    outbox,
)
from registration_service.domain.model import ENROLLED, WAITLISTED, Action, RequestStatus
from registration_service.use_cases.outcomes import promotion_event

Request = RegistrationRequestRow


def decided_outcomes(
    session: Session, student_id: int, after: datetime, before: datetime | None = None
) -> list[dict[str, Any]]:
    """The student's outcomes decided from ``after`` (inclusive) until ``before`` (exclusive,
    None: until now), in the order they were decided; each the data of its SSE event."""
    found: list[tuple[datetime, int, str, dict[str, Any]]] = []
    for row in _decided_requests(session, student_id, after, before):
        cid = row.correlation_id or NO_CORRELATION
        event = events.outcome_decided.event(row, correlation_id=cid)
        found.append((row.decided_at or after, 0, row.id, _sse_data(event, cid)))
    for program_id, section_id, when in _promotions(session, student_id, after, before):
        freed_by = _freeing_request(session, program_id, section_id, when)
        event = promotion_event(student_id, program_id, section_id, when, freed_by)
        cid = event.correlation_id if freed_by is not None else NO_CORRELATION
        found.append((when, 1, str(section_id), _sse_data(event, cid)))
    found.sort(key=lambda item: item[:3])
    return [data for *_, data in found]


ANNOUNCE_CHUNK = 1_000  # outbox rows per insert


def announce_outcomes(session: Session, since: datetime, *, lottery_only: bool = False) -> int:
    """Stage ``registration.outcome.decided.v1`` again for every request decided since
    ``since`` (only those a lottery run placed, with ``lottery_only``), oldest first, on the
    shared ``registration.outcomes`` stream only: students' pages never see them twice. Each
    is a new event (a new id) with the request's fields, ``decided_at`` included, so a live
    reader can tell it from a fresh decision. The lottery records an outcome only while its
    assignment is pending, so announcing twice changes nothing more. How many were staged."""
    query = select(Request).where(
        Request.status.in_([RequestStatus.ACCEPTED, RequestStatus.REJECTED]),
        Request.decided_at >= since,
    )
    if lottery_only:
        query = query.where(Request.origin.like("lottery-%"))
    rows: list[dict[str, Any]] = []
    staged = 0
    for row in session.scalars(query.order_by(Request.decided_at, Request.id)):
        cid = row.correlation_id or NO_CORRELATION
        rows += outbox_rows(
            events.OUTCOMES_STREAM, events.outcome_decided.event(row, correlation_id=cid)
        )
        if len(rows) >= ANNOUNCE_CHUNK:
            session.execute(outbox.insert(), rows)
            staged, rows = staged + len(rows), []
    if rows:
        session.execute(outbox.insert(), rows)
    return staged + len(rows)


def _sse_data(event: Event, cid: str) -> dict[str, Any]:
    """What the live stream's event carries: the payload, its type and correlation id."""
    return event.payload | {"event_type": event.event_type, "correlation_id": cid}


def _decided_requests(
    session: Session, student_id: int, after: datetime, before: datetime | None
) -> list[Request]:
    query = select(Request).where(
        Request.student_id == student_id,
        Request.status.in_([RequestStatus.ACCEPTED, RequestStatus.REJECTED]),
        Request.decided_at >= after,
    )
    if before is not None:
        query = query.where(Request.decided_at < before)
    return list(session.scalars(query.order_by(Request.decided_at, Request.id)))


def _promotions(
    session: Session, student_id: int, after: datetime, before: datetime | None
) -> list[tuple[int, int, datetime]]:
    """(program, section, when) of each promotion of the student (see the module)."""
    seat, line = aliased(StudentRegistrationRow), aliased(StudentRegistrationRow)
    seat_type, line_type = aliased(RegistrationTypeRow), aliased(RegistrationTypeRow)
    own_enroll = exists().where(
        Request.student_id == student_id,
        Request.action == Action.ENROLL,
        Request.section_id == seat.section_id,
        Request.status == RequestStatus.ACCEPTED,
        Request.decided_at == seat.start_date,
    )
    query = (
        select(seat.program_id, seat.section_id, seat.start_date)
        .join(seat_type, seat.type_id == seat_type.id)
        .join(
            line,
            and_(
                line.student_id == seat.student_id,
                line.section_id == seat.section_id,
                line.end_date == seat.start_date,
            ),
        )
        .join(line_type, line.type_id == line_type.id)
        .where(
            seat.student_id == student_id,
            seat_type.name == ENROLLED,
            line_type.name == WAITLISTED,
            seat.start_date >= after,
            ~own_enroll,
        )
        .distinct()
    )
    if before is not None:
        query = query.where(seat.start_date < before)
    return [(p, s, when) for p, s, when in session.execute(query).tuples()]


def _freeing_request(
    session: Session, program_id: int, section_id: int, when: datetime
) -> Request | None:
    """The accepted drop of the section, or switch out of it, decided at ``when``."""
    return session.scalars(
        select(Request)
        .where(
            Request.program_id == program_id,
            Request.status == RequestStatus.ACCEPTED,
            Request.decided_at == when,
            or_(
                and_(Request.action == Action.DROP, Request.section_id == section_id),
                and_(Request.action == Action.SWITCH, Request.from_section_id == section_id),
            ),
        )
        .order_by(Request.id)
        .limit(1)
    ).first()
