"""What organisers change once registration is under way: a program's fields, a section's
capacity and whether it is open.

A section is changed under its row lock, the lock the partition drainers take before deciding
for it, so a change never interleaves with a decision. The database still has the last word:
``enrolled_count <= capacity`` is a CHECK. A capacity raise hands the new seats to the waitlist,
earliest first, in the same transaction, and tells each promoted student on their stream. Every
change is announced on the catalog stream, so the lottery's copy follows.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from servicekit.domain_errors import Conflict
from servicekit.outbox import add_to_outbox
from sqlalchemy import select
from sqlalchemy.orm import Session

from registration_service import events
from registration_service.adapters.models import ClassRow, ProgramRow, SectionRow, outbox
from registration_service.domain.errors import NotFound
from registration_service.domain.model import SectionStatus
from registration_service.use_cases.catalog import NewProgram, check_program, class_event
from registration_service.use_cases.decisions import fill_from_waitlist
from registration_service.use_cases.outcomes import stage_promotions

PROGRAM_FIELDS = frozenset(
    {
        "name",
        "grade_min",
        "grade_max",
        "student_capacity",
        "use_priority",
        "priority_limit",
        "registration_opens_at",
        "registration_closes_at",
        "opening_window_seconds",
        "waitlist_limit_per_timeslot",
        "time_zone",
    }
)


def update_program(session: Session, program_id: int, changes: dict[str, Any]) -> ProgramRow:
    """Change any of the program's fields; the result must hold together (grade range, window)
    and keep room for the students already in it (else a 409 naming the count)."""
    program = session.scalars(
        select(ProgramRow).where(ProgramRow.id == program_id).with_for_update()
    ).one_or_none()
    if program is None:
        raise NotFound("program", program_id)
    unknown = set(changes) - PROGRAM_FIELDS
    if unknown:
        raise ValueError(f"not program fields: {sorted(unknown)}")
    after = NewProgram(**({f: getattr(program, f) for f in PROGRAM_FIELDS} | changes))
    check_program(after)  # before anything changes: a refused change leaves nothing behind
    capacity = after.student_capacity
    if capacity is not None and capacity < program.student_count:
        raise Conflict(
            "capacity_below_students",
            f"Program {program_id} has {program.student_count} students holding a seat; its "
            f"student_capacity cannot go below {program.student_count}.",
        )
    for name, value in changes.items():
        setattr(program, name, value)
    session.flush()
    add_to_outbox(session, outbox, events.CATALOG_STREAM, events.program_updated.event(program))
    return program


def update_section(
    session: Session,
    section_id: int,
    *,
    capacity: int | None = None,
    status: SectionStatus | None = None,
    when: datetime | None = None,
) -> SectionRow:
    """Change a section's capacity or status. A capacity below the seats taken is a 409 naming
    them; new seats go to the waitlist at once (an open section only)."""
    section = session.scalars(
        select(SectionRow).where(SectionRow.id == section_id).with_for_update()
    ).one_or_none()
    if section is None:
        raise NotFound("section", section_id)
    if capacity is not None and capacity < section.enrolled_count:
        raise Conflict(
            "capacity_below_enrolled",
            f"Section {section_id} has {section.enrolled_count} students enrolled; its capacity "
            f"cannot go below {section.enrolled_count}.",
        )
    if capacity is not None:
        section.capacity = capacity
    if status is not None:
        section.status = status
    session.flush()
    when = when or datetime.now(UTC)
    if section.status == SectionStatus.OPEN and section.enrolled_count < section.capacity:
        promoted = fill_from_waitlist(session, section.program_id, section_id, when)
        stage_promotions(session, section.program_id, section_id, promoted, when)
    class_ = session.get(ClassRow, section.class_id)
    if class_ is not None:
        add_to_outbox(
            session, outbox, events.CATALOG_STREAM, class_event(events.class_updated, class_)
        )
    # The seats the waitlist took, and the timeslots the answer lists after the transaction.
    session.refresh(section, ["enrolled_count", "timeslots"])
    return section
