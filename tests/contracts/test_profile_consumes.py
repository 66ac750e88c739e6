"""The profile service reads the registration service's golden catalog payloads with its own
schema, and still reads them when the producer adds a field."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from marshmallow import ValidationError
from profile_service import events
from profile_service.adapters.models import KnownProgramRow
from profile_service.use_cases.programs import handle_catalog_event
from servicekit.events import Event

ADDED_LATER = {"added_in_a_later_release": {"any": ["shape"]}}


@pytest.mark.parametrize("extra", [{}, ADDED_LATER], ids=["golden", "golden_plus_a_field"])
@pytest.mark.parametrize("event_type", [events.PROGRAM_CREATED, events.PROGRAM_UPDATED])
def test_programs_are_learnt_from_the_goldens(profile_session, golden, event_type, extra):
    example = golden(event_type)
    event = Event(event_type, "registration", example | extra)
    assert handle_catalog_event(profile_session, event)
    program = profile_session.get(KnownProgramRow, example["id"])
    opens = datetime.fromisoformat(example["registration_opens_at"]).date()
    assert (program.name, program.grades_as_of) == (example["name"], opens)
    assert isinstance(program.grades_as_of, date)


@pytest.mark.parametrize("spec", events.CONSUMES, ids=lambda spec: spec.event_type)
def test_the_reader_keeps_only_what_this_service_reads(golden, spec):
    example = golden(spec.event_type)
    read = spec.read(example | ADDED_LATER)
    assert sorted(read) == sorted(spec.schema.fields)
    assert (read["id"], read["name"]) == (example["id"], example["name"])
    opens = datetime.fromisoformat(example["registration_opens_at"])
    assert read["registration_opens_at"] == opens


def test_a_payload_without_a_field_we_read_fails_loudly(profile_session, golden):
    broken = {k: v for k, v in golden(events.PROGRAM_CREATED).items() if k != "name"}
    with pytest.raises(ValidationError, match="name"):
        handle_catalog_event(profile_session, Event(events.PROGRAM_CREATED, "registration", broken))
