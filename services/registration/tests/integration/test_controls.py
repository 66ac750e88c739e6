"""Organisers' changes: a section's capacity and status, any program field; seats raised go to
the waitlist in the same transaction, and the catalog stream follows every change."""

from __future__ import annotations

import json

import pytest
from registration_service import events
from registration_service.adapters.models import outbox
from registration_service.domain.errors import InvalidInput
from registration_service.domain.model import SectionStatus
from registration_service.use_cases import controls, queries
from registration_service.use_cases.decisions import drop, enroll
from servicekit.domain_errors import Conflict
from sqlalchemy import select


def staged(session, event_type):
    rows = session.execute(
        select(outbox.c.stream, outbox.c.body).where(outbox.c.event_type == event_type)
    )
    return [(stream, json.loads(body)["payload"]) for stream, body in rows]


@pytest.fixture
def full_section(build, session):
    """A 2-seat section, full, with students 3, 4 and 5 waitlisted in that order."""
    program = build.program()
    section = build.section(program, [build.timeslot(program)], capacity=2)
    for student in range(1, 6):
        build.complete_profile(program, student)
        enroll(session, student_id=student, section_id=section, waitlist=True)
    return program, section


def waitlisted(session, section):
    return queries.section_students(session, section, ["Waitlisted"])


def test_a_capacity_raise_promotes_the_earliest_waitlisted(session, full_section):
    _, section = full_section
    updated = controls.update_section(session, section, capacity=4)
    assert (updated.capacity, updated.enrolled_count) == (4, 4)
    assert queries.section_students(session, section) == [1, 2, 3, 4]
    assert waitlisted(session, section) == [5]
    promoted = staged(session, events.WAITLIST_PROMOTED)
    assert sorted(p["student_id"] for _, p in promoted) == [3, 3, 4, 4]  # outcomes + own stream
    assert {stream for stream, _ in promoted} >= {events.student_stream(3)}
    (_, announced), *_ = staged(session, events.CLASS_UPDATED)
    assert announced["sections"][0]["capacity"] == 4


def test_a_capacity_below_the_enrolled_count_is_refused_with_the_count(session, full_section):
    _, section = full_section
    with pytest.raises(Conflict) as refused:
        controls.update_section(session, section, capacity=1)
    assert "2 students enrolled" in refused.value.message


def test_a_closed_section_takes_no_one_and_promotes_no_one(session, build, full_section):
    program, section = full_section
    controls.update_section(session, section, status=SectionStatus.CLOSED)
    build.complete_profile(program, 9)
    refused = enroll(session, student_id=9, section_id=section, waitlist=True)
    assert refused.decision.reason.value == "section_closed"
    drop(session, student_id=1, section_id=section)  # a seat frees, the section stays closed
    assert waitlisted(session, section) == [3, 4, 5]
    controls.update_section(session, section, status=SectionStatus.OPEN)  # reopened: it fills
    assert waitlisted(session, section) == [4, 5]


def test_program_fields_change_together_or_not_at_all(session, full_section):
    program, _ = full_section
    changed = controls.update_program(session, program, {"name": "Splash 2027", "grade_max": 10})
    assert (changed.name, changed.grade_max) == ("Splash 2027", 10)
    assert staged(session, events.PROGRAM_UPDATED)[-1][1]["grade_max"] == 10
    with pytest.raises(InvalidInput) as bad:
        controls.update_program(session, program, {"grade_min": 11})
    assert list(bad.value.fields) == ["grade_max"]
    assert changed.grade_min == 7  # the refused change left nothing behind


def test_a_program_capacity_below_its_students_is_refused(session, full_section):
    program, _ = full_section
    with pytest.raises(Conflict) as refused:
        controls.update_program(session, program, {"student_capacity": 1})
    assert "2 students holding a seat" in refused.value.message
