"""The profile service emits payloads shaped like its golden examples, on the stream its
``events.py`` declares. Changing a payload field fails here first."""

from __future__ import annotations

from datetime import date

import pytest
from marshmallow import ValidationError
from profile_service import events
from profile_service.adapters.models import outbox
from profile_service.domain.grades import Rollover
from profile_service.use_cases.profiles import GradeClock, save_profile
from profile_service.use_cases.programs import handle_catalog_event
from profile_testkit import complete_profile
from servicekit.events import Event

CLOCK = GradeClock(Rollover(), date(2026, 11, 1))


@pytest.fixture
def program(profile_session, golden) -> int:
    """The golden completion's program, announced opening on 2026-12-01 (school year 2027)."""
    program_id = golden(events.PROFILE_COMPLETED)["program_id"]
    payload = golden(events.PROGRAM_CREATED) | {"id": program_id}
    assert payload["registration_opens_at"].startswith("2026-12-01")
    handle_catalog_event(profile_session, Event(events.PROGRAM_CREATED, "registration", payload))
    return program_id


def test_a_complete_profile_is_announced_like_the_golden(
    profile_session, program, golden, like_golden, staged
):
    example = golden(events.PROFILE_COMPLETED)
    given = complete_profile(graduation_year=example["graduation_year"])
    view = save_profile(profile_session, program, example["student_id"], given, CLOCK)
    [(stream, payload)] = staged(profile_session, outbox, events.PROFILE_COMPLETED)
    assert stream == events.PROFILES_STREAM
    like_golden(payload, events.PROFILE_COMPLETED, profile_id=view.id)


def test_a_reopened_profile_is_announced_like_the_golden(
    profile_session, program, golden, like_golden, staged
):
    student = golden(events.PROFILE_REOPENED)["student_id"]
    save_profile(profile_session, program, student, complete_profile(), CLOCK)
    save_profile(profile_session, program, student, complete_profile(guardian=None), CLOCK)
    [(stream, payload)] = staged(profile_session, outbox, events.PROFILE_REOPENED)
    assert stream == events.PROFILES_STREAM
    like_golden(payload, events.PROFILE_REOPENED)


def test_a_wrong_payload_fails_loudly(golden):
    example = golden(events.PROFILE_COMPLETED)
    assert events.profile_completed.event(example).payload == example
    with pytest.raises(ValidationError, match="grade"):
        events.profile_completed.event(example | {"grade": None})
    with pytest.raises(ValidationError, match="school_year"):
        events.profile_completed.event(example | {"school_year": 2027.0})
