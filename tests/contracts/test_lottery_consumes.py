"""The lottery service reads the registration and profile services' golden payloads with its
own schemas, and still reads them when the producer adds a field."""

from __future__ import annotations

import pytest
from lottery_service import events
from lottery_service.adapters.models import (
    ClassRow,
    ProgramConstraintsRow,
    ProgramRow,
    SectionRow,
    StudentGradeRow,
    TimeslotRow,
)
from lottery_service.use_cases.commits import apply_outcomes
from lottery_service.use_cases.read_models import handle_event
from servicekit.events import Event

ADDED_LATER = {"added_in_a_later_release": {"any": ["shape"]}}
EXTRAS = pytest.mark.parametrize("extra", [{}, ADDED_LATER], ids=["golden", "golden_plus_a_field"])


def _event(golden, event_type: str, extra: dict) -> Event:
    return Event(event_type, event_type.split(".")[0], golden(event_type) | extra)


@EXTRAS
def test_the_catalog_is_learnt_from_the_goldens(lottery_session, golden, extra):
    for event_type in (
        events.PROGRAM_CREATED,
        events.TIMESLOT_CREATED,
        events.CLASS_CREATED,
        events.PROGRAM_UPDATED,
        events.CLASS_UPDATED,
    ):
        assert handle_event(lottery_session, _event(golden, event_type, extra)), event_type
    program = golden(events.PROGRAM_UPDATED)
    row = lottery_session.get(ProgramRow, program["id"])
    assert (row.name, row.priority_limit) == (program["name"], program["priority_limit"])
    assert lottery_session.get(TimeslotRow, golden(events.TIMESLOT_CREATED)["id"]) is not None
    klass = golden(events.CLASS_UPDATED)
    assert lottery_session.get(ClassRow, klass["id"]).title == klass["title"]
    for section in klass["sections"]:
        row = lottery_session.get(SectionRow, section["id"])
        assert (row.capacity, row.timeslot_ids) == (section["capacity"], section["timeslot_ids"])


@EXTRAS
def test_a_programs_constraints_are_learnt_from_the_golden_and_replaced(
    lottery_session, golden, extra
):
    changed = golden(events.CONSTRAINTS_CHANGED)
    assert handle_event(lottery_session, _event(golden, events.CONSTRAINTS_CHANGED, extra))
    row = lottery_session.get(ProgramConstraintsRow, changed["program_id"])
    assert row.constraints == changed["constraints"]
    none_left = {"program_id": changed["program_id"], "constraints": []} | extra
    assert handle_event(
        lottery_session, Event(events.CONSTRAINTS_CHANGED, "registration", none_left)
    )
    assert lottery_session.get(ProgramConstraintsRow, changed["program_id"]).constraints == []


@EXTRAS
def test_grades_are_learnt_and_forgotten_from_the_goldens(lottery_session, golden, extra):
    completed = golden(events.PROFILE_COMPLETED)
    assert handle_event(lottery_session, _event(golden, events.PROFILE_COMPLETED, extra))
    key = (completed["program_id"], completed["student_id"])
    assert lottery_session.get(StudentGradeRow, key).grade == completed["grade"]
    reopened = golden(events.PROFILE_REOPENED) | {
        k: completed[k] for k in ("program_id", "student_id")
    }
    handle_event(lottery_session, Event(events.PROFILE_REOPENED, "profile", reopened | extra))
    assert lottery_session.get(StudentGradeRow, key) is None


@EXTRAS
def test_outcomes_are_read_and_others_requests_skipped(lottery_session, golden, extra):
    outcome = _event(golden, events.OUTCOME_DECIDED, extra)
    assert outcome.payload["origin"] is None
    assert apply_outcomes(lottery_session, [outcome]) == 0  # a student's own request


@pytest.mark.parametrize("spec", events.CONSUMES, ids=lambda spec: spec.event_type)
def test_the_reader_keeps_only_what_this_service_reads(golden, spec):
    read = spec.read(golden(spec.event_type) | ADDED_LATER)
    assert sorted(read) == sorted(spec.schema.fields)
