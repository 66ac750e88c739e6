"""What a batch of enroll requests needs to be decided, loaded with a few set-based queries.

The rush path decides hundreds of requests per transaction; loading each request's program,
section and student one by one would cost about twenty round trips per request. Here the whole
batch costs seven. The batch's sections and its students' program memberships are locked
(``FOR UPDATE``, in id order) so nothing but this transaction moves them until it commits; what
another partition may still change (a student's seats elsewhere, the program's head count) is
guarded by the unique indexes and the conditional program counter when the batch writes.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

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
from registration_service.domain.model import WAITLISTED, Holding, Program, Section, Student


@dataclass(frozen=True)
class QueuedEnroll:
    """An enroll request as the drainer read it from its partition's queue."""

    id: str
    program_id: int
    student_id: int
    section_id: int
    waitlist: bool


@dataclass
class BatchSnapshot:
    """Programs, sections and students as of the batch's start; the decider moves them along."""

    programs: dict[int, Program]
    sections: dict[int, Section]
    students: dict[tuple[int, int], Student]  # (program, student)
    # (student, section) -> id of the active Waitlisted registration
    waiting: dict[tuple[int, int], int] = field(default_factory=dict)


_PROGRAMS = select(
    ProgramRow.id,
    ProgramRow.grade_min,
    ProgramRow.grade_max,
    ProgramRow.student_capacity,
    ProgramRow.student_count,
    ProgramRow.use_priority,
    ProgramRow.priority_limit,
    ProgramRow.registration_opens_at,
    ProgramRow.registration_closes_at,
)

_SECTIONS = (
    select(
        SectionRow.id,
        SectionRow.class_id,
        SectionRow.capacity,
        SectionRow.enrolled_count,
        SectionRow.status,
        ClassRow.grade_min,
        ClassRow.grade_max,
    )
    .join(ClassRow, ClassRow.id == SectionRow.class_id)
    .order_by(SectionRow.id)
    .with_for_update(of=SectionRow)
)


def load_batch_snapshot(session: Session, batch: Iterable[QueuedEnroll]) -> BatchSnapshot:
    batch = list(batch)
    program_ids = sorted({r.program_id for r in batch})
    section_ids = sorted({r.section_id for r in batch})
    student_ids = sorted({r.student_id for r in batch})
    pairs = sorted({(r.program_id, r.student_id) for r in batch})

    programs = {
        row.id: Program(**row._asdict())
        for row in session.execute(_PROGRAMS.where(ProgramRow.id.in_(program_ids)))
    }
    section_rows = session.execute(_SECTIONS.where(SectionRow.id.in_(section_ids))).all()
    grades = {
        (program_id, student_id): grade
        for program_id, student_id, grade in session.execute(
            select(
                CompleteProfileRow.program_id,
                CompleteProfileRow.student_id,
                CompleteProfileRow.grade,
            ).where(
                CompleteProfileRow.program_id.in_(program_ids),
                CompleteProfileRow.student_id.in_(student_ids),
            )
        )
    }
    members = {
        (program_id, student_id)
        for program_id, student_id in session.execute(
            select(ProgramStudentRow.program_id, ProgramStudentRow.student_id)
            .where(
                ProgramStudentRow.program_id.in_(program_ids),
                ProgramStudentRow.student_id.in_(student_ids),
            )
            .order_by(ProgramStudentRow.program_id, ProgramStudentRow.student_id)
            .with_for_update()  # a concurrent drop of a last seat waits for this batch
        )
    }
    held = session.execute(
        select(
            StudentRegistrationRow.program_id,
            StudentRegistrationRow.student_id,
            StudentRegistrationRow.section_id,
            StudentRegistrationRow.class_id,
        ).where(
            StudentRegistrationRow.program_id.in_(program_ids),
            StudentRegistrationRow.student_id.in_(student_ids),
            StudentRegistrationRow.holds_seat.is_(True),
        )
    ).all()
    slots = _timeslots(session, {*section_ids, *(row.section_id for row in held)})
    waiting = {
        (student_id, section_id): registration_id
        for registration_id, student_id, section_id in session.execute(
            select(
                StudentRegistrationRow.id,
                StudentRegistrationRow.student_id,
                StudentRegistrationRow.section_id,
            )
            .join(RegistrationTypeRow)
            .where(
                StudentRegistrationRow.section_id.in_(section_ids),
                StudentRegistrationRow.student_id.in_(student_ids),
                StudentRegistrationRow.active.is_(True),
                RegistrationTypeRow.name == WAITLISTED,
            )
            .order_by(StudentRegistrationRow.id)
        )
    }

    holdings: dict[tuple[int, int], list[Holding]] = defaultdict(list)
    for program_id, student_id, section_id, class_id in held:
        holdings[program_id, student_id].append(Holding(section_id, class_id, slots[section_id]))
    students = {
        pair: Student(
            id=pair[1],
            profile_complete=pair in grades,
            grade=grades.get(pair),
            in_program=pair in members,
            holdings=tuple(holdings[pair]),
        )
        for pair in pairs
    }
    sections = {
        row.id: Section(
            id=row.id,
            class_id=row.class_id,
            capacity=row.capacity,
            enrolled=row.enrolled_count,
            timeslot_ids=slots[row.id],
            grade_min=row.grade_min,
            grade_max=row.grade_max,
            is_open=row.status == "open",
        )
        for row in section_rows
    }
    return BatchSnapshot(programs, sections, students, waiting)


def _timeslots(session: Session, section_ids: set[int]) -> dict[int, frozenset[int]]:
    found: dict[int, set[int]] = defaultdict(set)
    rows = session.execute(
        select(section_timeslots.c.section_id, section_timeslots.c.timeslot_id).where(
            section_timeslots.c.section_id.in_(sorted(section_ids))
        )
    )
    for section_id, timeslot_id in rows:
        found[section_id].add(timeslot_id)
    return {section_id: frozenset(found[section_id]) for section_id in section_ids}
