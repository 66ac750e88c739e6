"""Programs, timeslots, classes and sections: what organisers set up before registration opens.

Each change is staged on the catalog stream in its own transaction, so other services (profile,
lottery) keep their copy of the catalog without reading our tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from servicekit.event_contracts import EventSpec
from servicekit.events import Event
from servicekit.outbox import add_to_outbox
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from registration_service import events
from registration_service.adapters.models import (
    ClassRow,
    ProgramRow,
    SectionRow,
    TimeslotRow,
    outbox,
    section_timeslots,
)
from registration_service.domain.errors import InvalidInput, NotFound
from registration_service.use_cases.constraints import announce_constraints


@dataclass(frozen=True)
class NewProgram:
    name: str
    grade_min: int
    grade_max: int
    student_capacity: int | None = None
    use_priority: bool = False
    priority_limit: int | None = None
    registration_opens_at: datetime | None = None
    registration_closes_at: datetime | None = None
    opening_window_seconds: int | None = None
    waitlist_limit_per_timeslot: int = 1
    time_zone: str = "UTC"


@dataclass(frozen=True)
class NewSection:
    capacity: int
    timeslot_ids: tuple[int, ...]


def get_program(session: Session, program_id: int) -> ProgramRow:
    program = session.get(ProgramRow, program_id)
    if program is None:
        raise NotFound("program", program_id)
    return program


def list_programs(session: Session) -> list[ProgramRow]:
    return list(session.scalars(select(ProgramRow).order_by(ProgramRow.id)))


def check_program(program: NewProgram | ProgramRow) -> None:
    """The rules between a program's fields, on creation and after every change."""
    errors: dict[str, list[str]] = {}
    if program.grade_min > program.grade_max:
        errors["grade_max"] = ["Must be at least grade_min."]
    opens, closes = program.registration_opens_at, program.registration_closes_at
    if opens is not None and closes is not None and closes <= opens:
        errors["registration_closes_at"] = ["Must be after registration_opens_at."]
    if program.opening_window_seconds is not None and opens is None:
        errors["opening_window_seconds"] = ["Needs registration_opens_at: the window starts then."]
    if not _is_time_zone(program.time_zone):
        errors["time_zone"] = ["Must be a time zone name such as America/New_York or UTC."]
    if errors:
        raise InvalidInput(errors)


def create_program(session: Session, new: NewProgram) -> ProgramRow:
    check_program(new)
    program = ProgramRow(**new.__dict__)
    session.add(program)
    session.flush()
    add_to_outbox(session, outbox, events.CATALOG_STREAM, events.program_created.event(program))
    return program


def announce_programs(session: Session) -> int:
    """Stage the whole catalog again, program by program: ``registration.program.updated.v1``,
    then ``registration.timeslot.created.v1`` for each of its timeslots and
    ``registration.class.updated.v1`` for each of its classes, and its schedule constraints
    (``registration.constraints.changed.v1``, the empty set too). For a catalog built before its
    events existed, a subscriber deployed later (the lottery service), or one that lost its copy
    while the stream lost its history. Subscribers upsert, so announcing twice is harmless.
    Returns how many programs were announced."""
    programs = list_programs(session)
    timeslots = session.scalars(select(TimeslotRow).order_by(TimeslotRow.id))
    classes = session.scalars(
        select(ClassRow)
        .options(selectinload(ClassRow.sections).selectinload(SectionRow.timeslots))
        .order_by(ClassRow.id)
    )
    staged: dict[int, list[Event]] = {program.id: [] for program in programs}
    for timeslot in timeslots:
        staged[timeslot.program_id].append(events.timeslot_created.event(timeslot))
    for class_ in classes:
        staged[class_.program_id].append(class_event(events.class_updated, class_))
    for program in programs:
        announced = [events.program_updated.event(program), *staged[program.id]]
        for event in announced:
            add_to_outbox(session, outbox, events.CATALOG_STREAM, event)
        announce_constraints(session, program.id)
    return len(programs)


def _is_time_zone(name: str) -> bool:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def list_timeslots(session: Session, program_id: int) -> list[TimeslotRow]:
    get_program(session, program_id)
    return list(
        session.scalars(
            select(TimeslotRow)
            .where(TimeslotRow.program_id == program_id)
            .order_by(TimeslotRow.start, TimeslotRow.id)
        )
    )


def add_timeslot(session: Session, program_id: int, start: datetime, end: datetime) -> TimeslotRow:
    get_program(session, program_id)
    if end <= start:
        raise InvalidInput({"end": ["Must be after start."]})
    timeslot = TimeslotRow(program_id=program_id, start=start, end=end)
    session.add(timeslot)
    session.flush()
    add_to_outbox(session, outbox, events.CATALOG_STREAM, events.timeslot_created.event(timeslot))
    return timeslot


def add_class(
    session: Session,
    program_id: int,
    title: str,
    grade_min: int,
    grade_max: int,
    sections: list[NewSection],
) -> ClassRow:
    """A class and its sections in one go; every timeslot must belong to the program."""
    get_program(session, program_id)
    errors: dict[str, list[str]] = {}
    if grade_min > grade_max:
        errors["grade_max"] = ["Must be at least grade_min."]
    wanted = {tid for section in sections for tid in section.timeslot_ids}
    found = {
        t.id: t
        for t in session.scalars(
            select(TimeslotRow).where(
                TimeslotRow.id.in_(wanted), TimeslotRow.program_id == program_id
            )
        )
    }
    for index, section in enumerate(sections):
        missing = sorted(set(section.timeslot_ids) - found.keys())
        if missing:
            errors[f"sections.{index}.timeslot_ids"] = [
                f"Timeslots {missing} do not exist in program {program_id}."
            ]
    if errors:
        raise InvalidInput(errors)
    class_ = ClassRow(program_id=program_id, title=title, grade_min=grade_min, grade_max=grade_max)
    for section in sections:
        class_.sections.append(
            SectionRow(
                program_id=program_id,
                capacity=section.capacity,
                timeslots=[found[tid] for tid in dict.fromkeys(section.timeslot_ids)],
            )
        )
    session.add(class_)
    session.flush()
    add_to_outbox(session, outbox, events.CATALOG_STREAM, class_event(events.class_created, class_))
    return class_


def class_event(spec: EventSpec, class_: ClassRow) -> Event:
    """A class with its sections, each with its timeslots in time order (by start, then id)."""
    return spec.event(
        {
            "id": class_.id,
            "program_id": class_.program_id,
            "title": class_.title,
            "grade_min": class_.grade_min,
            "grade_max": class_.grade_max,
            "sections": [
                {
                    "id": section.id,
                    "capacity": section.capacity,
                    "timeslot_ids": [
                        t.id for t in sorted(section.timeslots, key=lambda t: (t.start, t.id))
                    ],
                }
                for section in class_.sections
            ],
        }
    )


def get_catalog(session: Session, program_id: int) -> list[dict[str, Any]]:
    """Every class of the program with its sections, seats and timeslots, as the catalog shows
    them (sections by id, each one's timeslots by id). Three queries of columns, not objects:
    in a rush each web process reads it every second, and loading 400 sections with their
    timeslots as ORM objects took 34 ms of the registration web's CPU each time."""
    get_program(session, program_id)
    classes: dict[int, dict[str, Any]] = {}
    for class_id, title, grade_min, grade_max in session.execute(
        select(ClassRow.id, ClassRow.title, ClassRow.grade_min, ClassRow.grade_max)
        .where(ClassRow.program_id == program_id)
        .order_by(ClassRow.id)
    ):
        classes[class_id] = {
            "id": class_id,
            "title": title,
            "grade_min": grade_min,
            "grade_max": grade_max,
            "sections": [],
        }
    sections: dict[int, dict[str, Any]] = {}
    in_program = SectionRow.class_id == ClassRow.id, ClassRow.program_id == program_id
    for section_id, class_id, capacity, enrolled, status in session.execute(
        select(
            SectionRow.id,
            SectionRow.class_id,
            SectionRow.capacity,
            SectionRow.enrolled_count,
            SectionRow.status,
        )
        .where(*in_program)
        .order_by(SectionRow.id)
    ):
        section = {
            "id": section_id,
            "capacity": capacity,
            "enrolled": enrolled,
            "status": status,
            "timeslot_ids": [],
        }
        sections[section_id] = section
        classes[class_id]["sections"].append(section)
    meets = section_timeslots.c
    for section_id, timeslot_id in session.execute(
        select(meets.section_id, meets.timeslot_id)
        .join(SectionRow, SectionRow.id == meets.section_id)
        .where(*in_program)
        .order_by(meets.timeslot_id)
    ):
        sections[section_id]["timeslot_ids"].append(timeslot_id)
    return list(classes.values())


def get_section(session: Session, section_id: int) -> SectionRow:
    section = session.get(SectionRow, section_id)
    if section is None:
        raise NotFound("section", section_id)
    return section
