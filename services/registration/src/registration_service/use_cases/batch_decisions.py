"""Enroll requests decided in a batch: oldest first, in one transaction, from one snapshot.

The rules are the same :func:`check_enroll` the one-at-a-time path uses; only the I/O differs.
The snapshot is read once, each decision moves it along in memory (a seat taken here is a seat
the next request cannot have), and the batch is written back with a handful of prebuilt
statements run with ``executemany``. The database keeps every guarantee it keeps for single
decisions: the section counters move through conditional UPDATEs, the program's head count
through a conditional UPDATE, and the partial unique indexes refuse a second seat in a class or
timeslot. When they refuse (another partition seated the same student meanwhile), the whole
batch raises; the caller rolls it back and reads it again, and after a second refusal decides
those requests one at a time.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import datetime

from servicekit.logging_setup import NO_CORRELATION
from servicekit.outbox import outbox_rows
from sqlalchemy import bindparam, update
from sqlalchemy.orm import Session

from registration_service import events
from registration_service.adapters.models import (
    ProgramRow,
    ProgramStudentRow,
    RegistrationRequestRow,
    SectionRow,
    StudentRegistrationRow,
    TimeslotOccupancyRow,
    outbox,
)
from registration_service.domain.model import (
    ENROLLED,
    STUDENT_CATEGORY,
    WAITLISTED,
    Action,
    Holding,
    PriorityPick,
    RequestStatus,
    SectionStatus,
    priority_level,
)
from registration_service.domain.reasons import Reason
from registration_service.domain.rules import Decision, check_enroll, takes_priority
from registration_service.use_cases.batch_snapshot import (
    BatchSnapshot,
    QueuedEnroll,
    load_batch_snapshot,
)
from registration_service.use_cases.outcomes import DecidedRequest
from registration_service.use_cases.registration_types import get_cached


class BatchRefused(Exception):
    """A conditional write found the database other than the snapshot said; roll back."""


_requests = RegistrationRequestRow.__table__
_registrations = StudentRegistrationRow.__table__
_sections = SectionRow.__table__
_programs = ProgramRow.__table__

# Built once: the statements every batch runs, with bind parameters for executemany.
RECORD_DECISION = (
    update(_requests)
    .where(_requests.c.id == bindparam("b_id"), _requests.c.status == RequestStatus.QUEUED)
    .values(
        status=bindparam("b_status"),
        reason=bindparam("b_reason"),
        message=bindparam("b_message"),
        verb=bindparam("b_verb"),
        decided_at=bindparam("b_when"),
    )
)
EXPIRE_WAITING = (
    update(_registrations)
    .where(_registrations.c.id == bindparam("b_id"), _registrations.c.active.is_(True))
    .values(active=False, end_date=bindparam("b_when"))
)
TAKE_SEATS = (
    update(_sections)
    .where(
        _sections.c.id == bindparam("b_id"),
        _sections.c.status == SectionStatus.OPEN,
        _sections.c.enrolled_count + bindparam("b_seats") <= _sections.c.capacity,
    )
    .values(enrolled_count=_sections.c.enrolled_count + bindparam("b_seats"))
)
ADD_REGISTRATIONS = _registrations.insert().returning(
    _registrations.c.id, sort_by_parameter_order=True
)
ADD_OCCUPANCIES = TimeslotOccupancyRow.__table__.insert()
ADD_MEMBERS = ProgramStudentRow.__table__.insert()
OUTBOX_INSERT = outbox.insert()


COUNT_STUDENTS = (
    update(_programs)
    .where(
        _programs.c.id == bindparam("b_id"),
        _programs.c.student_capacity.is_(None)
        | (_programs.c.student_count + bindparam("b_joined") <= _programs.c.student_capacity),
    )
    .values(student_count=_programs.c.student_count + bindparam("b_joined"))
)


@dataclass
class _Writes:
    """Everything the batch decided, as rows for the prebuilt statements."""

    when: datetime
    decided: list[DecidedRequest] = field(default_factory=list)
    registrations: list[dict] = field(default_factory=list)
    registration_slots: list[frozenset[int]] = field(default_factory=list)
    expired: list[int] = field(default_factory=list)
    seats: Counter[int] = field(default_factory=Counter)
    members: list[tuple[int, int]] = field(default_factory=list)

    def register(
        self, request: QueuedEnroll, class_id: int, slots: frozenset[int], verb: str
    ) -> None:
        seated = verb == ENROLLED
        self.registrations.append(
            {
                "program_id": request.program_id,
                "class_id": class_id,
                "section_id": request.section_id,
                "student_id": request.student_id,
                "verb": verb,
                "start_date": request.starts_at or self.when,
                "end_date": None,
                "active": True,
                "holds_seat": seated,
                "created_at": self.when,
            }
        )
        self.registration_slots.append(slots if seated else frozenset())


def decide_enrollments(
    session: Session, batch: list[QueuedEnroll], when: datetime
) -> list[DecidedRequest]:
    """Decide every request in ``batch`` (in order) and write the outcomes and their events.

    Raises :class:`BatchRefused` or ``IntegrityError`` when the database refuses a write; the
    transaction must then be rolled back.
    """
    snapshot = load_batch_snapshot(session, batch)
    writes = _Writes(when)
    for request in batch:
        decision = _decide(snapshot, request, writes)
        writes.decided.append(DecidedRequest.of(request, Action.ENROLL, decision, when))
    _write(session, writes)
    return writes.decided


def _decide(snapshot: BatchSnapshot, request: QueuedEnroll, writes: _Writes) -> Decision:
    program = snapshot.programs.get(request.program_id)
    section = snapshot.sections.get(request.section_id)
    if program is None or section is None:
        return Decision.reject(Reason.SECTION_REMOVED)
    pair = (request.program_id, request.student_id)
    student = snapshot.students[pair]
    decision = check_enroll(
        program,
        section,
        student,
        writes.when,
        waitlist=request.waitlist,
        placed_by_admin=request.origin is not None,
        priority=takes_priority(program, request.origin is not None),
    )
    if not decision.accepted:
        return decision
    level = priority_level(decision.verb or "")
    if level is not None:  # a choice: no seat, no timeslot, no head count; the next is N + 1
        pick = PriorityPick(section.id, section.class_id, section.timeslot_ids, level)
        snapshot.students[pair] = replace(student, priorities=(*student.priorities, pick))
        writes.register(request, section.class_id, section.timeslot_ids, decision.verb or "")
        return decision
    waiting = (request.student_id, request.section_id)
    if decision.verb == WAITLISTED:
        if waiting not in snapshot.waiting:  # asking again keeps the original place in line
            snapshot.waiting[waiting] = -1  # written with this batch
            writes.register(request, section.class_id, section.timeslot_ids, WAITLISTED)
            line = Holding(section.id, section.class_id, section.timeslot_ids)
            snapshot.students[pair] = replace(student, waitlisted=(*student.waitlisted, line))
        return decision
    snapshot.sections[section.id] = replace(section, enrolled=section.enrolled + 1)
    writes.seats[section.id] += 1
    if not student.in_program:
        snapshot.programs[program.id] = replace(program, student_count=program.student_count + 1)
        writes.members.append(pair)
    # Within a batch seats are only taken, never freed, so a place in line found here was
    # written before this batch, never by it.
    registration_id = snapshot.waiting.pop(waiting, None)
    if registration_id is not None:
        writes.expired.append(registration_id)
    holding = Holding(section.id, section.class_id, section.timeslot_ids)
    lines = tuple(h for h in student.waitlisted if h.section_id != section.id)
    snapshot.students[pair] = replace(
        student, in_program=True, holdings=(*student.holdings, holding), waitlisted=lines
    )
    writes.register(request, section.class_id, section.timeslot_ids, ENROLLED)
    return decision


def _write(session: Session, writes: _Writes) -> None:
    run = session.connection().execute  # Core statements: no ORM bookkeeping per batch
    if writes.expired:
        run(EXPIRE_WAITING, [{"b_id": rid, "b_when": writes.when} for rid in writes.expired])
    if writes.registrations:
        _add_registrations(session, writes)
    if writes.seats:
        rows = [{"b_id": sid, "b_seats": n} for sid, n in sorted(writes.seats.items())]
        if run(TAKE_SEATS, rows).rowcount != len(rows):
            raise BatchRefused("a section's seats changed under the batch")
    if run(RECORD_DECISION, [d.bind() for d in writes.decided]).rowcount != len(writes.decided):
        raise BatchRefused("a request was decided elsewhere meanwhile")
    rows = []
    for decided in writes.decided:
        streams = (events.student_stream(decided.student_id), events.OUTCOMES_STREAM)
        cid = decided.correlation_id or NO_CORRELATION  # the request's, not the worker's
        rows += outbox_rows(streams, events.outcome_decided.event(decided, correlation_id=cid))
    run(OUTBOX_INSERT, rows)
    if writes.members:
        # Last: the program row is the one lock every partition shares; hold it only to commit.
        run(ADD_MEMBERS, [{"program_id": p, "student_id": s} for p, s in writes.members])
        for program_id, joined in sorted(Counter(p for p, _ in writes.members).items()):
            if run(COUNT_STUDENTS, {"b_id": program_id, "b_joined": joined}).rowcount != 1:
                raise BatchRefused("the program filled up under the batch")


def _add_registrations(session: Session, writes: _Writes) -> None:
    verbs = {registration["verb"] for registration in writes.registrations}
    type_ids = {verb: get_cached(session, verb, STUDENT_CATEGORY) for verb in sorted(verbs)}
    rows = []
    for registration in writes.registrations:
        values = dict(registration)
        values["type_id"] = type_ids[values.pop("verb")]
        rows.append(values)
    run = session.connection().execute
    ids = run(ADD_REGISTRATIONS, rows).scalars().all()
    occupancies = [
        {"student_id": row["student_id"], "timeslot_id": slot, "registration_id": rid}
        for row, rid, slots in zip(rows, ids, writes.registration_slots, strict=True)
        for slot in sorted(slots)
    ]
    if occupancies:
        run(ADD_OCCUPANCIES, occupancies)
