"""The read model of complete profiles, fed by the profile service's events."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from registration_service.adapters.models import CompleteProfileRow


def record_profile_completed(
    session: Session, *, program_id: int, student_id: int, grade: int, event_id: str
) -> bool:
    """Upsert one student's completion; False when this event was already applied."""
    row = session.scalars(
        select(CompleteProfileRow).where(
            CompleteProfileRow.program_id == program_id,
            CompleteProfileRow.student_id == student_id,
        )
    ).one_or_none()
    if row is None:
        session.add(
            CompleteProfileRow(
                program_id=program_id, student_id=student_id, grade=grade, event_id=event_id
            )
        )
    elif row.event_id == event_id:
        return False
    else:
        row.grade = grade
        row.event_id = event_id
    session.flush()
    return True
