"""The read model of complete profiles, fed by the profile service's events.

The ``profile_incomplete`` rule reads only this table, so the request path never calls the
profile service. Each event is applied once (``processed_events``); replaying the stream from
its start into an empty table rebuilds it.
"""

from __future__ import annotations

from servicekit.background import read_unapplied
from servicekit.events import Event
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from registration_service import events
from registration_service.adapters.models import CompleteProfileRow, ProcessedEventRow

_READERS = {spec.event_type: spec for spec in (events.profile_completed, events.profile_reopened)}


def handle_profile_event(session: Session, event: Event) -> bool:
    """Apply one profile event; False for other events and for duplicates. A payload without
    the fields we read raises (ValidationError): the entry stays pending, never half applied."""
    read = read_unapplied(session, _READERS, ProcessedEventRow, event)
    if read is None:
        return False
    spec, payload = read
    if spec is events.profile_reopened:
        session.execute(
            delete(CompleteProfileRow).where(
                CompleteProfileRow.program_id == payload["program_id"],
                CompleteProfileRow.student_id == payload["student_id"],
            )
        )
        return True
    record_profile_completed(
        session,
        program_id=payload["program_id"],
        student_id=payload["student_id"],
        grade=payload["grade"],
        event_id=event.event_id,
    )
    return True


def record_profile_completed(
    session: Session, *, program_id: int, student_id: int, grade: int, event_id: str
) -> None:
    """Upsert one student's completion (a later event for the same profile updates the grade)."""
    row = session.scalars(
        select(CompleteProfileRow).where(
            CompleteProfileRow.program_id == program_id,
            CompleteProfileRow.student_id == student_id,
        )
    ).one_or_none()
    if row is None:
        row = CompleteProfileRow(program_id=program_id, student_id=student_id)
        session.add(row)
    row.grade = grade
    row.event_id = event_id
    session.flush()
