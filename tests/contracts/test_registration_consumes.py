"""The registration service reads the profile and lottery services' golden payloads with its own
schemas, and still reads them when the producer adds a field (within a version only optional
fields are added)."""

from __future__ import annotations

from datetime import datetime

import pytest
from marshmallow import ValidationError
from registration_service import events
from registration_service.adapters.models import CompleteProfileRow, RegistrationRequestRow
from registration_service.use_cases.lottery_commits import handle_lottery_event
from registration_service.use_cases.profiles import handle_profile_event
from registration_testkit import CatalogBuilder
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
    assert sorted(read) == sorted(spec.schema.fields)
    assert spec.schema.dump(read) == {name: example[name] for name in spec.schema.fields}


def _with_a_field_everywhere(payload: dict) -> dict:
    """The lottery payload with a field added at the top and in each assignment."""
    assignments = [item | ADDED_LATER for item in payload["assignments"]]
    return payload | ADDED_LATER | {"assignments": assignments}


def _stored_requests(session) -> list[tuple]:
    query = select(RegistrationRequestRow).order_by(
        RegistrationRequestRow.action.desc(), RegistrationRequestRow.student_id
    )
    return [
        (r.action, r.student_id, r.section_id, r.origin, r.starts_at, r.idempotency_key)
        for r in session.scalars(query)
    ]


@pytest.mark.parametrize("added", [False, True], ids=["golden", "golden_plus_a_field"])
def test_a_lottery_run_committed_then_reverted_is_read_from_the_goldens(
    registration_session, golden, added
):
    """Each assignment becomes a queued request placed by the run: enrolls, then drops."""
    session = registration_session
    build = CatalogBuilder(session)
    program = build.program()
    sections = [build.section(program, [build.timeslot(program, hour)]) for hour in range(2)]
    committed, reverted = golden(events.LOTTERY_RUN_COMMITTED), golden(events.LOTTERY_RUN_REVERTED)
    assert committed["program_id"] == program  # the goldens name the catalog built here
    assert sorted(a["section_id"] for a in committed["assignments"]) == sections
    if added:
        committed, reverted = map(_with_a_field_everywhere, (committed, reverted))
    for event_type, payload in (
        (events.LOTTERY_RUN_COMMITTED, committed),
        (events.LOTTERY_RUN_REVERTED, reverted),
    ):
        rung = handle_lottery_event(session, Event(event_type, "lottery", payload), partitions=1)
        assert rung == {0}
    starts_at = datetime.fromisoformat(committed["starts_at"])
    run = committed["run_id"]
    assert _stored_requests(session) == [
        (action, a["student_id"], a["section_id"], f"lottery-{kind}:{run}", starts_at, key)
        for action, kind in (("enroll", "run"), ("drop", "revert"))
        for a in committed["assignments"]
        for key in [f"lottery-{kind}-{run}-section-{a['section_id']}"]
    ]


def test_a_payload_without_a_field_we_read_fails_loudly(registration_session, golden):
    broken = {k: v for k, v in golden(events.PROFILE_COMPLETED).items() if k != "grade"}
    with pytest.raises(ValidationError, match="grade"):
        handle_profile_event(
            registration_session, Event(events.PROFILE_COMPLETED, "profile", broken)
        )
    assert _read_model(registration_session) == []
