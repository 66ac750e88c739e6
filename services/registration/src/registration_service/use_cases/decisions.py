"""Enroll, drop and switch: one decision each, all inside the caller's transaction.

A decision runs in a savepoint. A rejection found while writing (the last seat went to a
concurrent decision) rolls the savepoint back; a unique index refusing a write (a concurrent
decision for the same student won), or a registration it read ended meanwhile, rolls it back and
the decision runs again, now seeing the winner's committed rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import or_, select
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.orm import Session

from registration_service.adapters.models import RegistrationTypeRow, StudentRegistrationRow
from registration_service.domain.model import DROPPED_VERBS, ENROLLED, PRIORITY_PREFIX, WAITLISTED
from registration_service.domain.reasons import Reason
from registration_service.domain.rules import (
    Decision,
    check_drop,
    check_enroll,
    check_switch,
    takes_priority,
)
from registration_service.use_cases import seats
from registration_service.use_cases.catalog import get_section
from registration_service.use_cases.constraints import lock_schedules
from registration_service.use_cases.snapshots import load_program, load_section, load_student

ATTEMPTS = 5
RETRYABLE_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock detected


class DecisionRetriesExhausted(RuntimeError):
    """Concurrent decisions kept winning; the caller should retry the whole transaction."""


@dataclass(frozen=True)
class Outcome:
    decision: Decision
    registration_id: int | None = None
    promoted_student_ids: tuple[int, ...] = field(default_factory=tuple)


class _Rejected(Exception):
    def __init__(self, reason: Reason) -> None:
        super().__init__(reason)
        self.outcome = Outcome(Decision.reject(reason))


class _SectionFilled(Exception):
    """The section's last seat went to a concurrent decision."""


def _decide(session: Session, attempt: Callable[[], Outcome]) -> Outcome:
    for _ in range(ATTEMPTS):
        try:
            with session.begin_nested():
                return attempt()
        except _Rejected as rejected:
            return rejected.outcome
        except IntegrityError:
            continue
        except seats.RegistrationChanged:  # the registration is read again next time
            continue
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) not in RETRYABLE_SQLSTATES:
                raise
    raise DecisionRetriesExhausted("decision lost to concurrent writers too many times")


def _now(when: datetime | None) -> datetime:
    return when if when is not None else datetime.now(UTC)


def _active_registrations(
    session: Session,
    student_id: int,
    section_id: int,
    verbs: tuple[str, ...],
    starts_at: datetime | None = None,
    priorities: bool = False,
) -> list[StudentRegistrationRow]:
    """The student's active registrations in the section (with ``priorities``, its
    ``Priority/N`` ones too); only those starting at ``starts_at`` when it is given."""
    named = RegistrationTypeRow.name.in_(verbs)
    if priorities:
        named = or_(named, RegistrationTypeRow.name.like(f"{PRIORITY_PREFIX}%"))
    query = (
        select(StudentRegistrationRow)
        .join(RegistrationTypeRow)
        .where(
            StudentRegistrationRow.student_id == student_id,
            StudentRegistrationRow.section_id == section_id,
            StudentRegistrationRow.active.is_(True),
            named,
        )
        .order_by(StudentRegistrationRow.id)
        .execution_options(populate_existing=True)
    )
    if starts_at is not None:
        query = query.where(StudentRegistrationRow.start_date == starts_at)
    return list(session.scalars(query))


def enroll(
    session: Session,
    *,
    student_id: int,
    section_id: int,
    waitlist: bool = False,
    when: datetime | None = None,
    program_id: int | None = None,
    placed_by_admin: bool = False,
    starts_at: datetime | None = None,
) -> Outcome:
    """Take a seat (or, with ``waitlist``, a waitlist place when the section is full).

    ``program_id``, when the caller already knows it, saves a lookup on the rush path. A
    request ``placed_by_admin`` is not bound by the registration window; ``starts_at`` is the
    registration's start date instead of ``when`` (every seat of one lottery run starts alike).
    """
    if program_id is None:
        program_id = get_section(session, section_id).program_id
    when = _now(when)
    start = starts_at or when

    def attempt() -> Outcome:
        seats.lock_membership(session, program_id, student_id)  # then read the head count
        program = load_program(session, program_id)
        priority = takes_priority(program, placed_by_admin)
        if program.constraints or priority:  # then read the schedule (the choices) they use
            lock_schedules(session, [student_id])
        section = load_section(session, section_id)
        student = load_student(session, program_id, student_id, with_priorities=priority)
        decision = check_enroll(
            program,
            section,
            student,
            when,
            waitlist=waitlist,
            placed_by_admin=placed_by_admin,
            priority=priority,
        )
        if not decision.accepted:
            return Outcome(decision)
        if priority:  # a choice: no seat, no timeslot, no head count
            verb = decision.verb or ""
            row = seats.add_registration(session, program_id, student_id, section, verb, start)
            return Outcome(decision, row.id)
        waiting = _active_registrations(session, student_id, section_id, (WAITLISTED,))
        if decision.verb == ENROLLED and seats.take_seat(session, section_id):
            if not student.in_program and not seats.join_program(session, program_id, student_id):
                raise _Rejected(Reason.PROGRAM_FULL)
            for registration in waiting:
                seats.expire_registration(session, registration, when)
            row = seats.add_registration(session, program_id, student_id, section, ENROLLED, start)
            return Outcome(decision, row.id)
        if not waitlist:
            raise _Rejected(Reason.SECTION_FULL)  # the last seat went to a concurrent decision
        if waiting:  # asking again changes nothing: keep the original place in line
            return Outcome(Decision.accept(WAITLISTED), waiting[0].id)
        row = seats.add_registration(session, program_id, student_id, section, WAITLISTED, start)
        return Outcome(Decision.accept(WAITLISTED), row.id)

    return _decide(session, attempt)


def drop(
    session: Session,
    *,
    student_id: int,
    section_id: int,
    when: datetime | None = None,
    placed_by_admin: bool = False,
    starts_at: datetime | None = None,
) -> Outcome:
    """Expire the student's registrations in the section; a freed seat goes to the waitlist.

    With ``starts_at`` only the registration starting then is expired (a lottery run's revert
    never drops one the student made themselves); ``placed_by_admin`` as for :func:`enroll`.
    """
    program_id = get_section(session, section_id).program_id
    when = _now(when)

    def attempt() -> Outcome:
        program = load_program(session, program_id)
        constrained = bool(program.constraints) and not placed_by_admin
        if constrained:  # the locks an enroll takes, in its order, before the schedule is read
            seats.lock_membership(session, program_id, student_id)
            lock_schedules(session, [student_id])
        # A choice made while the program used priorities can be dropped after it stops.
        held = _active_registrations(
            session, student_id, section_id, DROPPED_VERBS, starts_at, priorities=True
        )
        remaining = None
        if constrained and any(registration.holds_seat for registration in held):
            holdings = load_student(session, program_id, student_id).holdings
            remaining = tuple(h for h in holdings if h.section_id != section_id)
        decision = check_drop(
            program, bool(held), when, placed_by_admin=placed_by_admin, remaining=remaining
        )
        if not decision.accepted:
            return Outcome(decision)
        freed = False
        for registration in held:
            freed = seats.expire_registration(session, registration, when) or freed
        promoted: tuple[int, ...] = ()
        if freed:
            seats.leave_program_if_seatless(session, program_id, student_id)
            promoted = promote_waitlist(session, program_id, section_id, when)
        return Outcome(Decision(accepted=True, verb=held[0].type.name), held[0].id, promoted)

    return _decide(session, attempt)


def switch(
    session: Session,
    *,
    student_id: int,
    from_section_id: int,
    to_section_id: int,
    when: datetime | None = None,
) -> Outcome:
    """Give up a seat in one section for a seat in another section of the same class, or neither."""
    program_id = get_section(session, to_section_id).program_id
    get_section(session, from_section_id)
    when = _now(when)

    def attempt() -> Outcome:
        seats.lock_sections(session, [from_section_id, to_section_id])
        program = load_program(session, program_id)
        if program.constraints:
            lock_schedules(session, [student_id])
        from_section = load_section(session, from_section_id)
        to_section = load_section(session, to_section_id)
        student = load_student(session, program_id, student_id)
        decision = check_switch(program, from_section, to_section, student, when)
        if not decision.accepted:
            return Outcome(decision)
        for registration in _active_registrations(
            session, student_id, from_section_id, (ENROLLED,)
        ):
            seats.expire_registration(session, registration, when)
        if not seats.take_seat(session, to_section_id):
            raise _Rejected(Reason.SECTION_FULL)
        row = seats.add_registration(session, program_id, student_id, to_section, ENROLLED, when)
        promoted = promote_waitlist(session, program_id, from_section_id, when)
        return Outcome(decision, row.id, promoted)

    return _decide(session, attempt)


def promote_waitlist(
    session: Session, program_id: int, section_id: int, when: datetime
) -> tuple[int, ...]:
    """First come, first served: enroll the earliest waitlisted student the rules (the
    program's schedule constraints included) still allow."""
    waiting = session.scalars(
        select(StudentRegistrationRow)
        .join(RegistrationTypeRow)
        .where(
            StudentRegistrationRow.section_id == section_id,
            StudentRegistrationRow.active.is_(True),
            RegistrationTypeRow.name == WAITLISTED,
        )
        .order_by(StudentRegistrationRow.created_at, StudentRegistrationRow.id)
        .execution_options(populate_existing=True)
    ).all()
    program = load_program(session, program_id)
    for registration in waiting:
        section = load_section(session, section_id)
        if section.is_full:
            break
        # The student's place first (as an enroll takes it): a drop of their last seat elsewhere
        # then waits, and sees this one, or has committed, and this promotion joins them again.
        seats.lock_membership(session, program_id, registration.student_id)
        if program.constraints:
            lock_schedules(session, [registration.student_id])
        student = load_student(session, program_id, registration.student_id)
        if not check_enroll(program, section, student, when).accepted:
            continue  # this student can no longer take the seat; the next one may
        try:
            with session.begin_nested():  # this student's writes, or none of them
                seats.expire_registration(session, registration, when)  # still in line?
                if not seats.take_seat(session, section_id):
                    raise _SectionFilled
                if not student.in_program and not seats.join_program(
                    session, program_id, registration.student_id
                ):
                    raise _Rejected(Reason.PROGRAM_FULL)
                seats.add_registration(
                    session, program_id, registration.student_id, section, ENROLLED, when
                )
        except _SectionFilled:
            break
        except (_Rejected, seats.RegistrationChanged):  # they cannot, or left the line: next
            continue
        return (registration.student_id,)
    return ()


def fill_from_waitlist(
    session: Session, program_id: int, section_id: int, when: datetime
) -> list[int]:
    """Promote waitlisted students, earliest first, while the section has free seats (after a
    capacity raise); the students promoted, in order."""
    promoted: list[int] = []
    while moved := promote_waitlist(session, program_id, section_id, when):
        promoted.extend(moved)
    return promoted
