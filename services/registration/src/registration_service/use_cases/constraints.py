"""Schedule constraints: organisers add, list and remove them; decisions read them and lock the
schedules they check.

Two partitions may decide one student's two enrolls at the same moment (partitions are by
section), and each alone may keep a constraint that both together break (a class before lunch
and one after, no lunch). So in a program with constraints a decision takes the student's
schedule lock (:func:`lock_schedules`) before it reads the schedule: on PostgreSQL a
transaction-level advisory lock per student, taken in ascending student order after the
membership rows (the order every decision path takes them in); SQLite runs one writer at a time
already.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from servicekit.outbox import add_to_outbox
from sqlalchemy import bindparam, delete, select, text
from sqlalchemy.orm import Session

from registration_service import events
from registration_service.adapters.models import (
    ClassRow,
    ProgramRow,
    ScheduleConstraintRow,
    SectionRow,
    TimeslotRow,
    outbox,
)
from registration_service.domain.constraints import Kind, Reference, ScheduleConstraint, parse
from registration_service.domain.errors import InvalidInput, NotFound

# pg_advisory_xact_lock(namespace, student): apart from the drainers' partition locks ("REG1").
SCHEDULE_LOCK_NAMESPACE = 0x52454753  # "REGS"

_rows = ScheduleConstraintRow.__table__.c
# Built once: the decision paths read a batch's programs' constraints with one statement.
CONSTRAINTS = (
    select(_rows.id, _rows.program_id, _rows.label, _rows.condition, _rows.requirement)
    .where(_rows.program_id.in_(bindparam("programs", expanding=True)))
    .order_by(_rows.id)
)
# Array order is the order the locks are taken in: the callers pass ascending ids.
LOCK_SCHEDULES = text(
    "SELECT pg_advisory_xact_lock(:namespace, student)"
    " FROM unnest(CAST(:students AS integer[])) AS student"
)
_OWNERS: dict[Kind, Any] = {"timeslot": TimeslotRow, "class": ClassRow, "section": SectionRow}


@dataclass(frozen=True)
class NewConstraint:
    label: str
    condition: dict[str, Any] | None
    requirement: dict[str, Any]


def constraints_of(
    session: Session, program_ids: Iterable[int]
) -> dict[int, tuple[ScheduleConstraint, ...]]:
    """Each program's constraints, oldest first (a program without any is left out)."""
    ids = sorted(set(program_ids))
    if not ids:
        return {}
    found: dict[int, list[ScheduleConstraint]] = defaultdict(list)
    for row in session.connection().execute(CONSTRAINTS, {"programs": ids}):
        constraint = ScheduleConstraint.from_json(row.id, row.label, row.condition, row.requirement)
        found[row.program_id].append(constraint)
    return {program_id: tuple(constraints) for program_id, constraints in found.items()}


def lock_schedules(session: Session, student_ids: Iterable[int]) -> None:
    """Until this transaction ends, no other decision reads or changes these students'
    schedules under a constraint (PostgreSQL; SQLite serialises writers anyway)."""
    ids = sorted(set(student_ids))
    if ids and session.get_bind().dialect.name == "postgresql":
        params = {"namespace": SCHEDULE_LOCK_NAMESPACE, "students": ids}
        session.connection().execute(LOCK_SCHEDULES, params).all()


def create_constraint(
    session: Session, program_id: int, new: NewConstraint
) -> ScheduleConstraintRow:
    """Add a constraint once both expressions parse and every id they name is the program's."""
    _program(session, program_id)
    errors: dict[str, list[str]] = {}
    references: list[Reference] = []
    for path, raw in (("condition", new.condition), ("requirement", new.requirement)):
        if raw is None and path == "condition":
            continue
        parsed = parse(raw, path)
        errors.update(parsed.errors)
        references += parsed.references
    errors.update(_foreign_ids(session, program_id, references))
    if errors:
        raise InvalidInput(errors)
    row = ScheduleConstraintRow(
        program_id=program_id,
        label=new.label,
        condition=new.condition,
        requirement=new.requirement,
    )
    session.add(row)
    session.flush()
    announce_constraints(session, program_id)
    return row


def list_constraints(session: Session, program_id: int) -> list[ScheduleConstraintRow]:
    _program(session, program_id)
    return list(
        session.scalars(
            select(ScheduleConstraintRow)
            .where(ScheduleConstraintRow.program_id == program_id)
            .order_by(ScheduleConstraintRow.id)
        )
    )


def delete_constraint(session: Session, program_id: int, constraint_id: int) -> None:
    """Remove it; decisions from now on no longer check it (seats already taken stay)."""
    _program(session, program_id)
    removed = session.execute(
        delete(ScheduleConstraintRow).where(
            ScheduleConstraintRow.id == constraint_id,
            ScheduleConstraintRow.program_id == program_id,
        )
    )
    if removed.rowcount != 1:
        raise NotFound("schedule constraint", constraint_id)
    announce_constraints(session, program_id)


def announce_constraints(session: Session, program_id: int) -> None:
    """Stage the program's constraints, all of them, for the services that keep a copy (the
    lottery's runs assign what registration will accept)."""
    rows = session.scalars(
        select(ScheduleConstraintRow)
        .where(ScheduleConstraintRow.program_id == program_id)
        .order_by(ScheduleConstraintRow.id)
    )
    payload = {
        "program_id": program_id,
        "constraints": [
            {
                "id": row.id,
                "label": row.label,
                "condition": row.condition,
                "requirement": row.requirement,
            }
            for row in rows
        ],
    }
    event = events.constraints_changed.event(payload)
    add_to_outbox(session, outbox, events.CATALOG_STREAM, event)


def _program(session: Session, program_id: int) -> ProgramRow:
    """The program, its row locked until the transaction ends (PostgreSQL): two organisers
    changing its constraints at once each announce the set the other's change left."""
    program = session.get(ProgramRow, program_id, with_for_update=True)
    if program is None:
        raise NotFound("program", program_id)
    return program


def _foreign_ids(
    session: Session, program_id: int, references: list[Reference]
) -> dict[str, list[str]]:
    """The references naming a timeslot, class or section that is not the program's."""
    errors: dict[str, list[str]] = {}
    for kind, owner in _OWNERS.items():
        named = [r for r in references if r.kind == kind]
        if not named:
            continue
        ours = set(
            session.scalars(
                select(owner.id).where(
                    owner.id.in_(sorted({r.id for r in named})), owner.program_id == program_id
                )
            )
        )
        for reference in named:
            if reference.id not in ours:
                message = f"{kind.capitalize()} {reference.id} is not in program {program_id}."
                errors.setdefault(reference.path, []).append(message)
    return errors
