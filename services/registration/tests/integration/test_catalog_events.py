"""Programs are announced on the catalog stream (the profile service learns program ids there)."""

import json

from registration_service.adapters.models import outbox
from registration_service.events import PROGRAM_CREATED, PROGRAM_UPDATED
from registration_service.use_cases import catalog
from sqlalchemy import select


def staged(session, event_type: str) -> list[dict]:
    query = select(outbox.c.body).where(outbox.c.event_type == event_type)
    return [json.loads(body)["payload"] for body in session.scalars(query)]


def test_a_new_program_is_announced_in_its_own_transaction(session):
    new = catalog.NewProgram("Splash", 7, 12, registration_opens_at=None)
    program = catalog.create_program(session, new)
    [payload] = staged(session, PROGRAM_CREATED)
    assert payload["id"] == program.id and payload["name"] == "Splash"
    assert payload["registration_opens_at"] is None


def test_programs_can_be_announced_again_for_subscribers_that_lost_them(session, build):
    first, second = build.program(), build.program()
    assert catalog.announce_programs(session) == 2
    announced = staged(session, PROGRAM_UPDATED)
    assert [payload["id"] for payload in announced] == [first, second]
