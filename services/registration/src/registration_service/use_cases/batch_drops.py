"""A lottery run's revert decided in batches: its drops, oldest first, in one transaction.

A revert is thousands of drops placed by an admin process (``origin``), each undoing a seat the
run gave: decided one per transaction it ran at a sixth of the commit's rate, the students
watching their schedules empty meanwhile. The rule is the one-request path's (the registration
must still be active, and with ``starts_at`` start then: never one the student made), and so
are the writes, done for the whole batch with a handful of statements:

1. the batch's students' places in their programs are locked first, in ascending order, so a
   drop in another partition of a student's other seat waits for this batch and then sees what
   it freed (a promotion later locks the promoted student's place too, out of that order: two
   such transactions can deadlock, and the loser is refused and decided again);
2. the registrations are expired (each only in the state the batch read: one a concurrent switch
   ended meanwhile refuses the batch, which is then decided a request at a time), their
   timeslots released and their seats freed;
3. a student left with no seat leaves the program, and the program's head count moves once
   (the row every partition shares is held from there to commit);
4. each freed seat goes to its section's waitlist, first come first served, by the same
   promotion the one-request path runs, naming the drop that freed it (after the leaving: a
   program at its capacity then has room for a waitlisted student who is not yet a member).

A student's own drop is not batched: it is bound by the registration window and by the schedule
constraints (a drop may not leave a schedule that breaks one), which the one-request path checks.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from servicekit.logging_setup import NO_CORRELATION
from servicekit.outbox import outbox_rows
from sqlalchemy import bindparam, delete, select, tuple_, update
from sqlalchemy.orm import Session

from registration_service import events
from registration_service.adapters.models import (
    ProgramRow,
    ProgramStudentRow,
    RegistrationTypeRow,
    SectionRow,
    StudentRegistrationRow,
    TimeslotOccupancyRow,
)
from registration_service.domain.model import Action, ended_by_drop
from registration_service.domain.reasons import Reason
from registration_service.domain.rules import Decision
from registration_service.use_cases.batch_decisions import (
    OUTBOX_INSERT,
    RECORD_DECISION,
    BatchRefused,
)
from registration_service.use_cases.decisions import promote_waitlist
from registration_service.use_cases.outcomes import DecidedRequest, stage_promotions


@dataclass(frozen=True)
class QueuedDrop:
    """A drop placed by an admin process (a lottery run's revert), as the drainer read it."""

    id: str
    program_id: int
    student_id: int
    section_id: int
    origin: str
    starts_at: datetime | None = None
    correlation_id: str | None = None

    @classmethod
    def of(cls, row: Any) -> QueuedDrop:
        """From a row of the drainer's queue read."""
        return cls(
            row.id,
            row.program_id,
            row.student_id,
            row.section_id,
            row.origin,
            starts_at=row.starts_at,
            correlation_id=row.correlation_id,
        )


_registrations = StudentRegistrationRow.__table__.c
_members = ProgramStudentRow.__table__.c
LOCK_MEMBERS = (
    select(_members.program_id, _members.student_id)
    .where(tuple_(_members.program_id, _members.student_id).in_(bindparam("pairs", expanding=True)))
    .order_by(_members.program_id, _members.student_id)
    .with_for_update()
)
HELD = (
    select(
        _registrations.id,
        _registrations.student_id,
        _registrations.section_id,
        _registrations.start_date,
        _registrations.holds_seat,
        RegistrationTypeRow.name,
    )
    .join(RegistrationTypeRow, RegistrationTypeRow.id == _registrations.type_id)
    .where(
        tuple_(_registrations.student_id, _registrations.section_id).in_(
            bindparam("pairs", expanding=True)
        ),
        _registrations.active.is_(True),
    )
    .order_by(_registrations.id)
)
EXPIRE = (
    update(StudentRegistrationRow.__table__)
    .where(
        _registrations.id == bindparam("b_id"),
        _registrations.active.is_(True),
        _registrations.holds_seat == bindparam("b_seat"),
    )
    .values(active=False, holds_seat=False, end_date=bindparam("b_when"))
)
_occupancies = TimeslotOccupancyRow.__table__.c
RELEASE = (
    update(TimeslotOccupancyRow.__table__)
    .where(_occupancies.registration_id == bindparam("b_id"), _occupancies.released_at.is_(None))
    .values(released_at=bindparam("b_when"))
)
_sections = SectionRow.__table__.c
FREE_SEATS = (
    update(SectionRow.__table__)
    .where(_sections.id == bindparam("b_id"), _sections.enrolled_count >= bindparam("b_seats"))
    .values(enrolled_count=_sections.enrolled_count - bindparam("b_seats"))
)
STILL_SEATED = (
    select(_registrations.program_id, _registrations.student_id)
    .where(
        tuple_(_registrations.program_id, _registrations.student_id).in_(
            bindparam("pairs", expanding=True)
        ),
        _registrations.holds_seat.is_(True),
    )
    .distinct()
)
LEAVE = delete(ProgramStudentRow.__table__).where(
    _members.program_id == bindparam("b_program"), _members.student_id == bindparam("b_student")
)
_programs = ProgramRow.__table__.c
UNCOUNT = (
    update(ProgramRow.__table__)
    .where(_programs.id == bindparam("b_id"), _programs.student_count >= bindparam("b_left"))
    .values(student_count=_programs.student_count - bindparam("b_left"))
)


def decide_drops(session: Session, batch: list[QueuedDrop], when: datetime) -> list[DecidedRequest]:
    """Decide every drop in ``batch`` (in order) and write the outcomes, their events and the
    promotions. Raises :class:`BatchRefused` when the database is other than read (the
    transaction must then be rolled back)."""
    run = session.connection().execute  # Core statements: no ORM bookkeeping per batch
    members = sorted({(d.program_id, d.student_id) for d in batch})
    run(LOCK_MEMBERS, {"pairs": members}).all()
    pairs = sorted({(d.student_id, d.section_id) for d in batch})
    held: dict[tuple[int, int], list] = {}
    for row in run(HELD, {"pairs": pairs}):
        if ended_by_drop(row.name):
            held.setdefault((row.student_id, row.section_id), []).append(row)
    decided: list[DecidedRequest] = []
    expired: list[dict[str, Any]] = []
    seated: list[int] = []
    freed: dict[int, list[QueuedDrop]] = {}  # section -> the drop behind each seat it freed
    losing: set[tuple[int, int]] = set()
    for drop in batch:
        key = (drop.student_id, drop.section_id)
        mine = [r for r in held.get(key, []) if drop.starts_at in (None, r.start_date)]
        held[key] = [r for r in held.get(key, []) if r not in mine]  # a later drop sees the rest
        if not mine:
            decision = Decision.reject(Reason.NOT_REGISTERED)
        else:
            decision = Decision(accepted=True, verb=mine[0].name)
            expired += [{"b_id": r.id, "b_seat": r.holds_seat, "b_when": when} for r in mine]
            for registration in mine:
                if registration.holds_seat:
                    seated.append(registration.id)
                    freed.setdefault(drop.section_id, []).append(drop)
                    losing.add((drop.program_id, drop.student_id))
        decided.append(DecidedRequest.of(drop, Action.DROP, decision, when))
    if expired and run(EXPIRE, expired).rowcount != len(expired):
        raise BatchRefused("a registration was ended elsewhere meanwhile")
    if seated:
        run(RELEASE, [{"b_id": rid, "b_when": when} for rid in seated])
        rows = [{"b_id": sid, "b_seats": len(drops)} for sid, drops in sorted(freed.items())]
        if run(FREE_SEATS, rows).rowcount != len(rows):
            raise BatchRefused("a section's seats changed under the batch of drops")
    if run(RECORD_DECISION, [d.bind() for d in decided]).rowcount != len(decided):
        raise BatchRefused("a request was decided elsewhere meanwhile")
    rows = []
    for outcome in decided:
        streams = (events.student_stream(outcome.student_id), events.OUTCOMES_STREAM)
        cid = outcome.correlation_id or NO_CORRELATION  # the request's, not the worker's
        rows += outbox_rows(streams, events.outcome_decided.event(outcome, correlation_id=cid))
    run(OUTBOX_INSERT, rows)
    # The seatless leave first, as in the one-request path: a full program then has room for a
    # waitlisted student who is not yet a member (and a leaver promoted joins again).
    _leave_if_seatless(session, losing)
    for _, drops in sorted(freed.items()):
        _promote(session, drops, when)
    return decided


def _leave_if_seatless(session: Session, losing: set[tuple[int, int]]) -> None:
    """The students left with no seat leave their programs; each program's head count moves
    once (their places were locked at the batch's start, so a drop of a student's other seat in
    another partition either committed before, and is seen here, or waits)."""
    if not losing:
        return
    run = session.connection().execute
    still = {(r.program_id, r.student_id) for r in run(STILL_SEATED, {"pairs": sorted(losing)})}
    leaving = sorted(losing - still)
    if not leaving:
        return
    gone = Counter[int]()
    for program_id, student_id in leaving:
        if run(LEAVE, {"b_program": program_id, "b_student": student_id}).rowcount:
            gone[program_id] += 1
    for program_id, left in sorted(gone.items()):
        if run(UNCOUNT, {"b_id": program_id, "b_left": left}).rowcount != 1:
            raise BatchRefused("the program's head count is other than its members")


def _promote(session: Session, drops: list[QueuedDrop], when: datetime) -> None:
    """Each seat the drops freed in their section to its waitlist's next student, the
    promotion naming the drop that freed the seat."""
    for drop in drops:
        moved = promote_waitlist(session, drop.program_id, drop.section_id, when)
        if not moved:
            return  # no one (left) in line who may take it
        stage_promotions(session, drop.program_id, drop.section_id, moved, when, freed_by=drop)
