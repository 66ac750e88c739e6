"""The catalog (with its schedule constraints) and students' grades, learnt from the registration
and profile services' events.

The lottery never calls either service in a request: stars, priorities and runs read only these
tables. Each event is applied once (``processed_events``) and every write is an upsert, so a
re-announced catalog or a replayed stream changes nothing that is already right.
"""

from __future__ import annotations

from typing import Any

from servicekit.background import read_unapplied
from servicekit.events import Event
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from lottery_service import events
from lottery_service.adapters.models import (
    ClassRow,
    ProcessedEventRow,
    ProgramConstraintsRow,
    ProgramRow,
    SectionRow,
    StudentGradeRow,
    TimeslotRow,
)
from lottery_service.domain.errors import NotFound
from lottery_service.domain.preferences import ClassInfo, ProgramCatalog

_READERS = {
    spec.event_type: spec
    for spec in (
        events.program_created,
        events.program_updated,
        events.timeslot_created,
        events.class_created,
        events.class_updated,
        events.constraints_changed,
        events.profile_completed,
        events.profile_reopened,
    )
}


def handle_event(session: Session, event: Event) -> bool:
    """Apply one catalog or profile event; False for other events and duplicates. A payload
    without the fields we read raises (ValidationError): its entry stays pending."""
    read = read_unapplied(session, _READERS, ProcessedEventRow, event)
    if read is None:
        return False
    spec, payload = read
    if spec in (events.program_created, events.program_updated):
        _upsert(session, ProgramRow, payload["id"], payload)
    elif spec is events.timeslot_created:
        _upsert(session, TimeslotRow, payload["id"], payload)
    elif spec in (events.class_created, events.class_updated):
        _learn_class(session, payload)
    elif spec is events.constraints_changed:
        _upsert(session, ProgramConstraintsRow, payload["program_id"], payload)
    elif spec is events.profile_completed:
        key = (payload["program_id"], payload["student_id"])
        _upsert(session, StudentGradeRow, key, payload)
    else:  # reopened: no grade until the profile is complete again
        session.execute(
            delete(StudentGradeRow).where(
                StudentGradeRow.program_id == payload["program_id"],
                StudentGradeRow.student_id == payload["student_id"],
            )
        )
    session.flush()
    return True


def handle_events(session: Session, batch: list[Event]) -> int:
    """Apply a batch of events in order, in the caller's transaction; how many changed
    something."""
    return sum(handle_event(session, event) for event in batch)


def _upsert(session: Session, model: Any, key: object, values: dict[str, Any]) -> Any:
    row = session.get(model, key)
    if row is None:
        row = model()
        session.add(row)
    for column in model.__table__.columns:
        if column.key in values:
            setattr(row, column.key, values[column.key])
    return row


def _learn_class(session: Session, payload: dict[str, Any]) -> None:
    _upsert(session, ClassRow, payload["id"], {k: v for k, v in payload.items() if k != "sections"})
    for section in payload["sections"]:
        slots = list(section["timeslot_ids"])
        _upsert(
            session,
            SectionRow,
            section["id"],
            {
                "id": section["id"],
                "class_id": payload["id"],
                "program_id": payload["program_id"],
                "capacity": section["capacity"],
                "timeslot_ids": slots,
                "first_timeslot_id": slots[0] if slots else 0,
            },
        )


def require_program(session: Session, program_id: int) -> ProgramRow:
    program = session.get(ProgramRow, program_id)
    if program is None:
        raise NotFound("program", program_id)
    return program


def program_catalog(
    session: Session, program_id: int, student_ids: list[int] | None = None
) -> ProgramCatalog:
    """The program's catalog and the grades of ``student_ids`` (every student's when None)."""
    program = require_program(session, program_id)
    classes = {
        row.id: ClassInfo(row.title, row.grade_min, row.grade_max)
        for row in session.scalars(select(ClassRow).where(ClassRow.program_id == program_id))
    }
    timeslots = frozenset(
        session.scalars(select(TimeslotRow.id).where(TimeslotRow.program_id == program_id))
    )
    starts = frozenset(
        session.execute(
            select(SectionRow.first_timeslot_id, SectionRow.class_id).where(
                SectionRow.program_id == program_id
            )
        ).tuples()
    )
    grades_query = select(StudentGradeRow.student_id, StudentGradeRow.grade).where(
        StudentGradeRow.program_id == program_id
    )
    if student_ids is not None:
        grades_query = grades_query.where(StudentGradeRow.student_id.in_(student_ids))
    grades = dict(session.execute(grades_query).tuples().all())
    return ProgramCatalog(
        program_id=program_id,
        classes=classes,
        timeslot_ids=timeslots,
        starts=starts,
        priority_limit=program.priority_limit,
        grades=grades,
    )
