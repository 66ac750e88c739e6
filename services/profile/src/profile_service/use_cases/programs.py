"""The programs this service knows, learnt from the registration service's catalog events."""

from __future__ import annotations

from servicekit.background import read_unapplied
from servicekit.events import Event
from sqlalchemy.orm import Session

from profile_service.adapters.models import KnownProgramRow, ProcessedEventRow
from profile_service.domain.errors import NotFound
from profile_service.events import (
    PROGRAM_CREATED,
    PROGRAM_UPDATED,
    program_created,
    program_updated,
)

_READERS = {PROGRAM_CREATED: program_created, PROGRAM_UPDATED: program_updated}


def require_program(session: Session, program_id: int) -> KnownProgramRow:
    program = session.get(KnownProgramRow, program_id)
    if program is None:
        raise NotFound("program", program_id)
    return program


def handle_catalog_event(session: Session, event: Event) -> bool:
    """Record a created or updated program; False for other events and for duplicates. A
    payload without the fields we read raises (ValidationError): the entry stays pending."""
    read = read_unapplied(session, _READERS, ProcessedEventRow, event)
    if read is None:
        return False
    _, payload = read
    program = session.get(KnownProgramRow, payload["id"])
    if program is None:
        program = KnownProgramRow(program_id=payload["id"])
        session.add(program)
    program.name = payload["name"]
    opens = payload["registration_opens_at"]  # grades are taken as of registration opening
    program.grades_as_of = opens.date() if opens else None
    program.event_id = event.event_id
    session.flush()
    return True
