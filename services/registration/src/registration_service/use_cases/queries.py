"""Who is in a section, what a student holds, and a student's next priority level."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session

from registration_service.adapters.models import (
    ClassRow,
    RegistrationTypeRow,
    StudentRegistrationRow,
    section_timeslots,
)
from registration_service.domain.model import (
    ENROLLED,
    PRIORITY_PREFIX,
    WAITLISTED,
    next_priority_level,
    priority_level,
)
from registration_service.use_cases.catalog import get_program, get_section

Reg = StudentRegistrationRow


def valid_objects(query: Select, when: datetime) -> Select:
    """Registrations valid at ``when``: start ≤ when ≤ end, where no end means open-ended."""
    return query.where(Reg.start_date <= when, or_(Reg.end_date.is_(None), Reg.end_date >= when))


@dataclass(frozen=True)
class StudentSection:
    section_id: int
    class_id: int
    verb: str


def section_students(
    session: Session, section_id: int, verbs: list[str] | None = None, when: datetime | None = None
) -> list[int]:
    """Students with a valid registration of one of ``verbs`` (default ``Enrolled``)."""
    get_section(session, section_id)
    query = (
        select(Reg.student_id)
        .join(RegistrationTypeRow)
        .where(Reg.section_id == section_id, RegistrationTypeRow.name.in_(verbs or [ENROLLED]))
        .distinct()
        .order_by(Reg.student_id)
    )
    return list(session.scalars(valid_objects(query, when or datetime.now(UTC))))


def student_sections(
    session: Session,
    program_id: int,
    student_id: int,
    verbs: list[str] | None = None,
    valid_only: bool = True,
    when: datetime | None = None,
) -> list[StudentSection]:
    """A student's registrations in a program; every verb when ``verbs`` is empty. The
    program is looked up only when there are none (a row implies its program): every open
    catalog page asks this, and the lookup was a round trip of its own."""
    query = (
        select(Reg.section_id, Reg.class_id, RegistrationTypeRow.name)
        .join(RegistrationTypeRow)
        .where(Reg.program_id == program_id, Reg.student_id == student_id)
        .order_by(Reg.id)
    )
    if verbs:
        query = query.where(RegistrationTypeRow.name.in_(verbs))
    if valid_only:
        query = valid_objects(query, when or datetime.now(UTC))
    found = [StudentSection(*row) for row in session.execute(query)]
    if not found:
        get_program(session, program_id)  # NotFound, or the student holds nothing
    return found


def student_classes(
    session: Session, program_id: int, student_id: int, when: datetime | None = None
) -> list[tuple[int, str]]:
    """The classes the student is validly ``Enrolled`` in: ``[(class_id, title)]``."""
    get_program(session, program_id)
    query = (
        select(ClassRow.id, ClassRow.title)
        .join(Reg, Reg.class_id == ClassRow.id)
        .join(RegistrationTypeRow)
        .where(
            Reg.program_id == program_id,
            Reg.student_id == student_id,
            RegistrationTypeRow.name == ENROLLED,
        )
        .distinct()
        .order_by(ClassRow.id)
    )
    return [
        (cid, title)
        for cid, title in session.execute(valid_objects(query, when or datetime.now(UTC)))
    ]


def registration_priority(
    session: Session,
    program_id: int,
    student_id: int,
    timeslot_ids: list[int],
    when: datetime | None = None,
) -> int:
    """ESP's ``getRegistrationPriority``: 0 when already ``Enrolled`` in one of the timeslots,
    else the smallest N ≥ 1 not used as ``Priority/N`` in a section overlapping them."""
    get_program(session, program_id)
    overlapping = select(section_timeslots.c.section_id).where(
        section_timeslots.c.timeslot_id.in_(timeslot_ids)
    )
    query = (
        select(RegistrationTypeRow.name)
        .join(Reg, Reg.type_id == RegistrationTypeRow.id)
        .where(
            Reg.program_id == program_id,
            Reg.student_id == student_id,
            Reg.section_id.in_(overlapping),
            or_(
                RegistrationTypeRow.name == ENROLLED,
                RegistrationTypeRow.name.like(f"{PRIORITY_PREFIX}%"),
            ),
        )
    )
    verbs = set(session.scalars(valid_objects(query, when or datetime.now(UTC))))
    used = {level for verb in verbs if (level := priority_level(verb)) is not None}
    return next_priority_level(ENROLLED in verbs, used)


def waitlist(session: Session, section_id: int) -> list[int]:
    """The section's waitlisted students in the order a freed seat goes to them (the order
    waitlist promotion uses: when they were waitlisted, then registration id)."""
    get_section(session, section_id)
    return list(
        session.scalars(
            select(Reg.student_id)
            .join(RegistrationTypeRow)
            .where(
                Reg.section_id == section_id,
                Reg.active.is_(True),
                RegistrationTypeRow.name == WAITLISTED,
            )
            .order_by(Reg.created_at, Reg.id)
        )
    )


def waitlist_position(session: Session, section_id: int, student_id: int) -> int | None:
    """1 = next in line; None when the student is not (or no longer) on the waitlist."""
    line = waitlist(session, section_id)
    return line.index(student_id) + 1 if student_id in line else None
