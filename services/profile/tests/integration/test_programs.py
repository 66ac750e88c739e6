"""Programs are learnt from catalog events: created or announced again, each event once."""

from datetime import date

from profile_service.adapters.models import KnownProgramRow
from profile_service.events import PROGRAM_CREATED, PROGRAM_UPDATED
from profile_service.use_cases.programs import handle_catalog_event
from servicekit.events import Event


def test_created_then_announced_again_and_duplicates_ignored(sessions):
    created = Event(PROGRAM_CREATED, "registration", {"id": 4, "name": "Splash"})
    updated = Event(
        PROGRAM_UPDATED,
        "registration",
        {"id": 4, "name": "Splash 2026", "registration_opens_at": "2026-12-01T09:00:00+00:00"},
    )
    unrelated = Event("registration.outcome.decided.v1", "registration", {"id": "x"})
    with sessions() as session, session.begin():
        assert handle_catalog_event(session, created) is True
        assert handle_catalog_event(session, created) is False  # delivered twice
        assert handle_catalog_event(session, unrelated) is False
        assert handle_catalog_event(session, updated) is True
    with sessions() as session:
        program = session.get(KnownProgramRow, 4)
        assert (program.name, program.grades_as_of) == ("Splash 2026", date(2026, 12, 1))
