"""A priority program's registrations (``Priority/N``, made in registration) as the lottery's
ranked priorities.

Registration publishes every outcome on ``registration.outcomes``. A student's own accepted
``enroll`` with verb ``Priority/N`` ranks the section's class N-th for the section's first
timeslot (replacing whatever held that rank, or that class, there) and stars the class; an
accepted ``drop`` of such a registration takes the class out of that timeslot's ranking (the
star stays, as when a ranking is edited). Ranks are not renumbered, as registration does not
renumber them. Sections not learnt yet are skipped with a warning. Applying an outcome again
changes nothing.
"""

from __future__ import annotations

import logging

from servicekit.events import Event
from sqlalchemy import delete, insert, or_
from sqlalchemy.orm import Session

from lottery_service import events
from lottery_service.adapters.models import PriorityRow, SectionRow
from lottery_service.use_cases.interest import add_stars

log = logging.getLogger(__name__)

PRIORITY_PREFIX = "Priority/"


def priority_rank(verb: object) -> int | None:
    """``"Priority/3"`` → 3; anything else → None."""
    if not isinstance(verb, str) or not verb.startswith(PRIORITY_PREFIX):
        return None
    suffix = verb.removeprefix(PRIORITY_PREFIX)
    return int(suffix) if suffix.isdigit() and int(suffix) > 0 else None


def apply_priority_registrations(session: Session, batch: list[Event]) -> int:
    """Apply the batch's accepted ``Priority/N`` enrolls and drops, in order; how many."""
    applied = 0
    for event in batch:
        # Most outcomes are seats or a run's requests: skipped before their payload is read.
        if event.event_type != events.OUTCOME_DECIDED:
            continue
        if priority_rank(event.payload.get("verb")) is None or event.payload.get("origin"):
            continue
        payload = events.outcome_decided.read(event.payload)
        rank = priority_rank(payload["verb"])
        if payload["status"] != "accepted" or rank is None:
            continue
        section = session.get(SectionRow, payload["section_id"])
        if section is None:
            log.warning(
                "skipped %s of student %s in section %s: the section is not known yet",
                payload["verb"],
                payload["student_id"],
                payload["section_id"],
            )
            continue
        if payload["action"] == "enroll":
            _rank(session, section, payload["student_id"], rank)
        elif payload["action"] == "drop":
            _unrank(session, section, payload["student_id"])
        else:
            continue
        applied += 1
    return applied


def _rank(session: Session, section: SectionRow, student_id: int, rank: int) -> None:
    session.execute(
        delete(PriorityRow).where(
            PriorityRow.program_id == section.program_id,
            PriorityRow.student_id == student_id,
            PriorityRow.timeslot_id == section.first_timeslot_id,
            or_(PriorityRow.rank == rank, PriorityRow.class_id == section.class_id),
        )
    )
    session.execute(
        insert(PriorityRow),
        [
            {
                "program_id": section.program_id,
                "student_id": student_id,
                "timeslot_id": section.first_timeslot_id,
                "rank": rank,
                "class_id": section.class_id,
            }
        ],
    )
    add_stars(session, section.program_id, [(student_id, section.class_id)])


def _unrank(session: Session, section: SectionRow, student_id: int) -> None:
    session.execute(
        delete(PriorityRow).where(
            PriorityRow.program_id == section.program_id,
            PriorityRow.student_id == student_id,
            PriorityRow.timeslot_id == section.first_timeslot_id,
            PriorityRow.class_id == section.class_id,
        )
    )
