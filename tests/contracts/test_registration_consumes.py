"""The registration service reads the profile service's golden payloads with its own schema, and
still reads them when the producer adds a field (within a version only optional fields are
added)."""

from __future__ import annotations

import pytest
from marshmallow import ValidationError
from registration_service import events
from registration_service.adapters.models import CompleteProfileRow
from registration_service.use_cases.profiles import handle_profile_event
from servicekit.events import Event
from sqlalchemy import select

ADDED_LATER = {"added_in_a_later_release": {"any": ["shape"]}}


def _read_model(session) -> list[tuple[int, int, int]]:
    rows = session.scalars(select(CompleteProfileRow).order_by(CompleteProfileRow.student_id))
    return [(row.program_id, row.student_id, row.grade) for row in rows]


@pytest.mark.parametrize("extra", [{}, ADDED_LATER], ids=["golden", "golden_plus_a_field"])
def test_completed_then_reopened_profiles_are_read_from_the_goldens(
    registration_session, golden, extra
):
    session = registration_session
    completed = golden(events.PROFILE_COMPLETED) | extra
    reopened = golden(events.PROFILE_REOPENED) | extra
    assert handle_profile_event(session, Event(events.PROFILE_COMPLETED, "profile", completed))
    expected = (completed["program_id"], completed["student_id"], completed["grade"])
    assert _read_model(session) == [expected]
    assert handle_profile_event(session, Event(events.PROFILE_REOPENED, "profile", reopened))
    assert _read_model(session) == []


@pytest.mark.parametrize("spec", events.CONSUMES, ids=lambda spec: spec.event_type)
def test_the_reader_keeps_only_what_this_service_reads(golden, spec):
    example = golden(spec.event_type)
    read = spec.read(example | ADDED_LATER)
    assert read == {name: example[name] for name in spec.schema.fields}


def test_a_payload_without_a_field_we_read_fails_loudly(registration_session, golden):
    broken = {k: v for k, v in golden(events.PROFILE_COMPLETED).items() if k != "grade"}
    with pytest.raises(ValidationError, match="grade"):
        handle_profile_event(
            registration_session, Event(events.PROFILE_COMPLETED, "profile", broken)
        )
    assert _read_model(registration_session) == []
