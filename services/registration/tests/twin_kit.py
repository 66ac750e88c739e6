"""Holding the batched decision path to the one-at-a-time path: store the same requests in two
databases, decide them both ways, and compare everything a decision leaves behind."""

from __future__ import annotations

from typing import Any

from registration_service.adapters.models import (
    ProgramRow,
    RegistrationRequestRow,
    SectionRow,
    StudentRegistrationRow,
    TimeslotOccupancyRow,
)
from registration_service.use_cases import requests
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker


def submit_all(
    sessions: sessionmaker[Session], news: list[requests.NewRequest], partitions: int = 1
) -> list[str]:
    """Store the requests, in order, in one transaction; their ids."""
    with sessions() as session, session.begin():
        return [requests.submit(session, new, partitions=partitions).id for new in news]


def outcomes(sessions: sessionmaker[Session], ids: list[str]) -> list[tuple[Any, ...]]:
    """(status, reason, verb, message) of each request, in the order of ``ids``."""
    with sessions() as session:
        rows = {
            row.id: (row.status, row.reason, row.verb, row.message)
            for row in session.scalars(
                select(RegistrationRequestRow).where(RegistrationRequestRow.id.in_(ids))
            )
        }
    return [rows[i] for i in ids]


def seats_state(sessions: sessionmaker[Session]) -> tuple[Any, ...]:
    """Registrations, seat counts, occupied timeslots and the head count, in a form two
    databases can be compared by."""
    with sessions() as session:
        registrations = sorted(
            session.execute(
                select(
                    StudentRegistrationRow.student_id,
                    StudentRegistrationRow.section_id,
                    StudentRegistrationRow.type_id,
                    StudentRegistrationRow.active,
                    StudentRegistrationRow.holds_seat,
                )
            ).all()
        )
        counts = sorted(session.execute(select(SectionRow.id, SectionRow.enrolled_count)).all())
        occupied = sorted(
            session.execute(
                select(TimeslotOccupancyRow.student_id, TimeslotOccupancyRow.timeslot_id).where(
                    TimeslotOccupancyRow.released_at.is_(None)
                )
            ).all()
        )
        students = session.scalar(select(ProgramRow.student_count))
    return registrations, counts, occupied, students
