"""Load the domain's snapshots (program, section, student) from the tables.

Every query re-reads the rows (``populate_existing``) so a decision retried inside one
transaction sees what concurrent decisions committed meanwhile.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select
from sqlalchemy.orm import Session

from registration_service.adapters.models import (
    ClassRow,
    CompleteProfileRow,
    ProgramRow,
    ProgramStudentRow,
    RegistrationTypeRow,
    SectionRow,
    StudentRegistrationRow,
    section_timeslots,
)
from registration_service.domain.errors import NotFound
from registration_service.domain.model import (
    PRIORITY_PREFIX,
    WAITLISTED,
    Holding,
    PriorityPick,
    Program,
    Section,
    SectionStatus,
    Student,
    priority_level,
)
from registration_service.use_cases.constraints import constraints_of

FRESH = {"populate_existing": True}


def load_program(session: Session, program_id: int) -> Program:
    row = session.scalars(
        select(ProgramRow).where(ProgramRow.id == program_id).execution_options(**FRESH)
    ).one_or_none()
    if row is None:
        raise NotFound("program", program_id)
    return Program(
        id=row.id,
        grade_min=row.grade_min,
        grade_max=row.grade_max,
        student_capacity=row.student_capacity,
        student_count=row.student_count,
        use_priority=row.use_priority,
        priority_limit=row.priority_limit,
        registration_opens_at=row.registration_opens_at,
        registration_closes_at=row.registration_closes_at,
        waitlist_limit_per_timeslot=row.waitlist_limit_per_timeslot,
        constraints=constraints_of(session, [program_id]).get(program_id, ()),
    )


def timeslots_of(session: Session, section_ids: list[int]) -> dict[int, frozenset[int]]:
    found: dict[int, set[int]] = defaultdict(set)
    if section_ids:
        rows = session.execute(
            select(section_timeslots.c.section_id, section_timeslots.c.timeslot_id).where(
                section_timeslots.c.section_id.in_(section_ids)
            )
        )
        for section_id, timeslot_id in rows:
            found[section_id].add(timeslot_id)
    return {section_id: frozenset(found[section_id]) for section_id in section_ids}


def load_section(session: Session, section_id: int) -> Section:
    row = session.execute(
        select(SectionRow, ClassRow.grade_min, ClassRow.grade_max)
        .join(ClassRow, ClassRow.id == SectionRow.class_id)
        .where(SectionRow.id == section_id)
        .execution_options(**FRESH)
    ).one_or_none()
    if row is None:
        raise NotFound("section", section_id)
    section, grade_min, grade_max = row
    return Section(
        id=section.id,
        class_id=section.class_id,
        capacity=section.capacity,
        enrolled=section.enrolled_count,
        timeslot_ids=timeslots_of(session, [section.id])[section.id],
        grade_min=grade_min,
        grade_max=grade_max,
        is_open=section.status == SectionStatus.OPEN,
    )


def load_student(
    session: Session, program_id: int, student_id: int, *, with_priorities: bool = False
) -> Student:
    """The student as the rules see them; ``with_priorities`` also reads their active
    ``Priority/N`` choices (a priority program's enrolls)."""
    grade = (
        select(CompleteProfileRow.grade)
        .where(
            CompleteProfileRow.program_id == program_id,
            CompleteProfileRow.student_id == student_id,
        )
        .scalar_subquery()
    )
    counted = (
        select(ProgramStudentRow.student_id)
        .where(
            ProgramStudentRow.program_id == program_id, ProgramStudentRow.student_id == student_id
        )
        .exists()
    )
    profile_grade, in_program = session.execute(select(grade, counted)).one()  # one round trip
    rows = session.execute(  # seats, and places in line (told apart by holds_seat)
        select(
            StudentRegistrationRow.section_id,
            StudentRegistrationRow.class_id,
            StudentRegistrationRow.holds_seat,
        )
        .join(RegistrationTypeRow)
        .where(
            StudentRegistrationRow.program_id == program_id,
            StudentRegistrationRow.student_id == student_id,
            StudentRegistrationRow.holds_seat.is_(True)
            | (StudentRegistrationRow.active.is_(True) & (RegistrationTypeRow.name == WAITLISTED)),
        )
    ).all()
    choices = _priority_choices(session, program_id, student_id) if with_priorities else []
    slots = timeslots_of(session, sorted({sid for sid, _, _ in (*rows, *choices)}))
    return Student(
        id=student_id,
        profile_complete=profile_grade is not None,
        grade=profile_grade,
        in_program=bool(in_program),
        holdings=tuple(Holding(sid, cid, slots[sid]) for sid, cid, seat in rows if seat),
        waitlisted=tuple(Holding(sid, cid, slots[sid]) for sid, cid, seat in rows if not seat),
        priorities=tuple(PriorityPick(sid, cid, slots[sid], n) for sid, cid, n in choices),
    )


def _priority_choices(
    session: Session, program_id: int, student_id: int
) -> list[tuple[int, int, int]]:
    """The student's active ``Priority/N`` registrations: ``[(section, class, N)]``."""
    rows = session.execute(
        select(
            StudentRegistrationRow.section_id,
            StudentRegistrationRow.class_id,
            RegistrationTypeRow.name,
        )
        .join(RegistrationTypeRow, RegistrationTypeRow.id == StudentRegistrationRow.type_id)
        .where(
            StudentRegistrationRow.program_id == program_id,
            StudentRegistrationRow.student_id == student_id,
            StudentRegistrationRow.active.is_(True),
            RegistrationTypeRow.name.like(f"{PRIORITY_PREFIX}%"),
        )
        .order_by(StudentRegistrationRow.id)
    ).all()
    return [(sid, cid, n) for sid, cid, name in rows if (n := priority_level(name)) is not None]
