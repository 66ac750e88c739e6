"""Lunch, as the ESP Website sets it up: a "Lunch" class per day with a section in each lunch
timeslot, and a rule that a student with a class before lunch and one after takes a lunch
period."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from registration_service.adapters.models import ClassRow, ScheduleConstraintRow, TimeslotRow
from registration_service.domain.errors import InvalidInput
from registration_service.use_cases import catalog
from registration_service.use_cases.constraints import NewConstraint, create_constraint

LUNCH_TITLE = "Lunch"
LUNCH_LABEL = "Take a lunch period"
LUNCH_CAPACITY = 10_000  # when the program sets no student capacity: room for everyone


@dataclass(frozen=True)
class LunchAdded:
    classes: list[ClassRow]
    constraints: list[ScheduleConstraintRow]


def add_lunch(session: Session, program_id: int, lunch_timeslot_ids: Sequence[int]) -> LunchAdded:
    """Per day (UTC date of the timeslot's start) holding a lunch timeslot: a Lunch class with
    one section per lunch timeslot, and, when the day has timeslots before and after lunch,
    the constraint "a class before lunch and one after: take a lunch section"."""
    program = catalog.get_program(session, program_id)
    timeslots = list(
        session.scalars(
            select(TimeslotRow)
            .where(TimeslotRow.program_id == program_id)
            .order_by(TimeslotRow.start, TimeslotRow.id)
        )
    )
    known = {t.id for t in timeslots}
    errors = {
        f"timeslot_ids.{index}": [f"Timeslot {tid} does not exist in program {program_id}."]
        for index, tid in enumerate(lunch_timeslot_ids)
        if tid not in known
    }
    if errors:
        raise InvalidInput(errors)
    days: dict[date, list[TimeslotRow]] = defaultdict(list)
    for timeslot in timeslots:
        days[timeslot.start.date()].append(timeslot)
    capacity = program.student_capacity
    capacity = LUNCH_CAPACITY if capacity is None else capacity
    lunch = set(lunch_timeslot_ids)
    added = LunchAdded([], [])
    for day in sorted(days):
        lunches = [t for t in days[day] if t.id in lunch]
        if not lunches:
            continue
        sections = [catalog.NewSection(capacity, (t.id,)) for t in lunches]
        class_ = catalog.add_class(
            session, program_id, LUNCH_TITLE, program.grade_min, program.grade_max, sections
        )
        added.classes.append(class_)
        before = [t.id for t in days[day] if t.end <= lunches[0].start and t.id not in lunch]
        after = [t.id for t in days[day] if t.start >= lunches[-1].end and t.id not in lunch]
        if before and after:  # else a student can never be busy on both sides that day
            rule = _lunch_rule(before, after, [s.id for s in class_.sections])
            added.constraints.append(create_constraint(session, program_id, rule))
    return added


def _lunch_rule(before: list[int], after: list[int], lunch_sections: list[int]) -> NewConstraint:
    return NewConstraint(
        label=LUNCH_LABEL,
        condition={
            "all": [
                {"any": [{"occupied": t} for t in before]},
                {"any": [{"occupied": t} for t in after]},
            ]
        },
        requirement={"in_sections": lunch_sections},
    )
