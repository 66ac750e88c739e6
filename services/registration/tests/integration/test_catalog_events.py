"""The catalog is announced on the catalog stream: programs (the profile service learns program ids
there), timeslots and classes with their sections (the lottery service learns the catalog)."""

import json

from registration_service.adapters.models import outbox
from registration_service.events import (
    CLASS_CREATED,
    CLASS_UPDATED,
    CONSTRAINTS_CHANGED,
    PROGRAM_CREATED,
    PROGRAM_UPDATED,
    TIMESLOT_CREATED,
)
from registration_service.use_cases import catalog
from sqlalchemy import delete, select


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


def test_timeslots_and_classes_are_announced_when_added(session, build):
    program = build.program()
    late, early = build.timeslot(program, hour=2), build.timeslot(program, hour=0)
    [timeslot] = [p for p in staged(session, TIMESLOT_CREATED) if p["id"] == late]
    assert (timeslot["program_id"], timeslot["start"]) == (program, "2026-12-05T11:00:00+00:00")
    new = [catalog.NewSection(12, (late, early)), catalog.NewSection(8, (early,))]
    class_ = catalog.add_class(session, program, "Knots", 9, 11, new)
    [payload] = staged(session, CLASS_CREATED)
    first, second = (section.id for section in class_.sections)
    assert payload == {
        "id": class_.id,
        "program_id": program,
        "title": "Knots",
        "grade_min": 9,
        "grade_max": 11,
        "sections": [  # each section's timeslots by start, whatever their ids
            {"id": first, "capacity": 12, "timeslot_ids": [early, late]},
            {"id": second, "capacity": 8, "timeslot_ids": [early]},
        ],
    }


def test_timeslots_of_one_start_are_listed_by_id(session, build):
    program = build.program()
    slots = [build.timeslot(program, hour=1) for _ in range(3)]
    catalog.add_class(session, program, "Knots", 7, 12, [catalog.NewSection(5, tuple(slots[::-1]))])
    [payload] = staged(session, CLASS_CREATED)
    assert payload["sections"][0]["timeslot_ids"] == slots


def test_announcing_stages_the_whole_catalog_program_by_program(session, build):
    first, second = build.program(), build.program()
    sections = {
        program: build.section(program, [build.timeslot(program)]) for program in (first, second)
    }
    session.execute(delete(outbox))  # as if the catalog predated its events
    assert catalog.announce_programs(session) == 2
    rows = session.execute(select(outbox.c.event_type, outbox.c.body).order_by(outbox.c.id))
    announced = [(event_type, json.loads(body)["payload"]) for event_type, body in rows]
    assert [event_type for event_type, _ in announced] == [
        PROGRAM_UPDATED,
        TIMESLOT_CREATED,
        CLASS_UPDATED,
        CONSTRAINTS_CHANGED,  # none yet: a subscriber learns that too
    ] * 2
    programs = [payload.get("program_id", payload.get("id")) for _, payload in announced]
    assert programs == [first] * 4 + [second] * 4
    assert announced[3][1] == {"program_id": first, "constraints": []}
    assert [p["sections"][0]["id"] for t, p in announced if t == CLASS_UPDATED] == [
        sections[first],
        sections[second],
    ]
