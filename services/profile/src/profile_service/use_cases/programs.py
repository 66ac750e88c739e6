"""The programs this service knows, learnt from the registration service's catalog events."""

from __future__ import annotations

from datetime import date, datetime

from servicekit.background import apply_once
from servicekit.events import Event
from sqlalchemy.orm import Session

from profile_service.adapters.models import KnownProgramRow, ProcessedEventRow
from profile_service.domain.errors import NotFound

CATALOG_STREAM = "registration.catalog"
PROGRAM_CREATED = "registration.program.created.v1"
PROGRAM_UPDATED = "registration.program.updated.v1"


def require_program(session: Session, program_id: int) -> KnownProgramRow:
    program = session.get(KnownProgramRow, program_id)
    if program is None:
        raise NotFound("program", program_id)
    return program


def _grades_as_of(payload: dict) -> date | None:
    opens = payload.get("registration_opens_at")
    return datetime.fromisoformat(opens).date() if opens else None


def handle_catalog_event(session: Session, event: Event) -> bool:
    """Record a created or updated program; False for other events and for duplicates."""
    if event.event_type not in (PROGRAM_CREATED, PROGRAM_UPDATED):
        return False
    if not apply_once(session, ProcessedEventRow, event.event_id):
        return False
    payload = event.payload
    program = session.get(KnownProgramRow, payload["id"])
    if program is None:
        program = KnownProgramRow(program_id=payload["id"])
        session.add(program)
    program.name = payload["name"]
    program.grades_as_of = _grades_as_of(payload)
    program.event_id = event.event_id
    session.flush()
    return True
