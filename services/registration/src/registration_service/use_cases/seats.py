"""The writes behind a decision. Each counter moves only through a conditional UPDATE whose
WHERE clause is the rule itself, so the database refuses what a stale read would allow."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, exists, select, update
from sqlalchemy.orm import Session

from registration_service.adapters.models import (
    ProgramRow,
    ProgramStudentRow,
    SectionRow,
    StudentRegistrationRow,
    TimeslotOccupancyRow,
)
from registration_service.domain.model import ENROLLED, STUDENT_CATEGORY, Section, SectionStatus
from registration_service.use_cases.registration_types import get_cached


def lock_sections(session: Session, section_ids: list[int]) -> None:
    """Lock rows in id order before touching several sections, so two switches never deadlock."""
    session.execute(
        select(SectionRow.id)
        .where(SectionRow.id.in_(section_ids))
        .order_by(SectionRow.id)
        .with_for_update()
    ).all()


def take_seat(session: Session, section_id: int) -> bool:
    result = session.execute(
        update(SectionRow)
        .where(
            SectionRow.id == section_id,
            SectionRow.status == SectionStatus.OPEN,
            SectionRow.enrolled_count < SectionRow.capacity,
        )
        .values(enrolled_count=SectionRow.enrolled_count + 1)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def free_seat(session: Session, section_id: int) -> None:
    session.execute(
        update(SectionRow)
        .where(SectionRow.id == section_id, SectionRow.enrolled_count > 0)
        .values(enrolled_count=SectionRow.enrolled_count - 1)
        .execution_options(synchronize_session=False)
    )


def join_program(session: Session, program_id: int, student_id: int) -> bool:
    """Count a new student against the program's capacity; False when the program is full."""
    result = session.execute(
        update(ProgramRow)
        .where(
            ProgramRow.id == program_id,
            (ProgramRow.student_capacity.is_(None))
            | (ProgramRow.student_count < ProgramRow.student_capacity),
        )
        .values(student_count=ProgramRow.student_count + 1)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return False
    session.add(ProgramStudentRow(program_id=program_id, student_id=student_id))
    session.flush()  # the primary key refuses a concurrent second join now, not at commit
    return True


def lock_membership(session: Session, program_id: int, student_id: int) -> None:
    """Hold the student's place in the program, if they have one, until commit: a concurrent
    drop of their last seat waits for this decision, then sees its seat and keeps the place."""
    session.execute(
        select(ProgramStudentRow.student_id)
        .where(
            ProgramStudentRow.program_id == program_id, ProgramStudentRow.student_id == student_id
        )
        .with_for_update()
    ).all()


def leave_program_if_seatless(session: Session, program_id: int, student_id: int) -> None:
    lock_membership(session, program_id, student_id)  # then count seats others committed
    still_seated = session.scalar(
        select(
            exists().where(
                StudentRegistrationRow.program_id == program_id,
                StudentRegistrationRow.student_id == student_id,
                StudentRegistrationRow.holds_seat.is_(True),
            )
        )
    )
    if still_seated:
        return
    removed = session.execute(
        delete(ProgramStudentRow).where(
            ProgramStudentRow.program_id == program_id, ProgramStudentRow.student_id == student_id
        )
    )
    if removed.rowcount == 1:
        session.execute(
            update(ProgramRow)
            .where(ProgramRow.id == program_id, ProgramRow.student_count > 0)
            .values(student_count=ProgramRow.student_count - 1)
            .execution_options(synchronize_session=False)
        )


def add_registration(
    session: Session,
    program_id: int,
    student_id: int,
    section: Section,
    verb: str,
    when: datetime,
) -> StudentRegistrationRow:
    """Record the registration; an ``Enrolled`` one also occupies the section's timeslots."""
    seated = verb == ENROLLED
    registration = StudentRegistrationRow(
        program_id=program_id,
        class_id=section.class_id,
        section_id=section.id,
        student_id=student_id,
        type_id=get_cached(session, verb, STUDENT_CATEGORY),
        start_date=when,
        active=True,
        holds_seat=seated,
    )
    session.add(registration)
    session.flush()
    if seated:
        for timeslot_id in sorted(section.timeslot_ids):
            session.add(
                TimeslotOccupancyRow(
                    student_id=student_id, timeslot_id=timeslot_id, registration_id=registration.id
                )
            )
        session.flush()
    return registration


class RegistrationChanged(Exception):
    """A registration the decision read was ended (or moved) by a concurrent decision since:
    the decision runs again, now seeing it."""


def expire_registration(
    session: Session, registration: StudentRegistrationRow, when: datetime
) -> bool:
    """End a registration at ``when`` (kept as history); True when it gave up a seat.

    The UPDATE names the state the decision read (active, and holding a seat or not), so a
    registration a concurrent switch or revert already ended is not ended, and its seat not
    freed, a second time: :class:`RegistrationChanged` is raised instead."""
    held_seat = registration.holds_seat
    ended = session.execute(
        update(StudentRegistrationRow)
        .where(
            StudentRegistrationRow.id == registration.id,
            StudentRegistrationRow.active.is_(True),
            StudentRegistrationRow.holds_seat.is_(held_seat),
        )
        .values(active=False, holds_seat=False, end_date=when)
        .execution_options(synchronize_session=False)
    )
    # Read again when next used, whatever happens: the row is not what the decision read, or a
    # savepoint rolled back later leaves no stale value behind.
    session.expire(registration, ["active", "holds_seat", "end_date"])
    if ended.rowcount != 1:
        raise RegistrationChanged(registration.id)
    if held_seat:
        session.execute(
            update(TimeslotOccupancyRow)
            .where(
                TimeslotOccupancyRow.registration_id == registration.id,
                TimeslotOccupancyRow.released_at.is_(None),
            )
            .values(released_at=when)
        )
        free_seat(session, registration.section_id)
    return held_seat
