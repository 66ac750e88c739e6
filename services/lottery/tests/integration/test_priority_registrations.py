"""Students' ``Priority/N`` registrations (a priority program's enrolls in registration) become
their ranked priorities for the section's first timeslot, and stars."""

from __future__ import annotations

import logging

import pytest
from lottery_service import events
from lottery_service.adapters.models import PriorityRow
from lottery_service.use_cases import commits, interest
from lottery_service.use_cases.priority_registrations import (
    apply_priority_registrations,
    priority_rank,
)
from servicekit.events import Event
from sqlalchemy import select


def outcome(
    student_id, section_id, verb, action="enroll", status="accepted", origin=None, program_id=1
):
    return Event(
        events.OUTCOME_DECIDED,
        "registration",
        {
            "id": f"r{student_id}-{section_id}-{action}",
            "program_id": program_id,
            "student_id": student_id,
            "action": action,
            "section_id": section_id,
            "from_section_id": None,
            "status": status,
            "reason": None if status == "accepted" else "priority_limit_reached",
            "message": None,
            "verb": verb if status == "accepted" else None,
            "decided_at": "2026-12-01T09:00:00+00:00",
            "origin": origin,
        },
    )


@pytest.fixture
def program(catalog):
    """Three classes starting at 9 (one runs 9 and 10, one has a section at 10 too)."""
    program = catalog.program(priority_limit=3)
    t9, t10 = catalog.timeslot(program, 9), catalog.timeslot(program, 10)
    a, (a9, a10) = catalog.klass(program, [(10, [t9]), (10, [t10])])
    b, (b9,) = catalog.klass(program, [(10, [t9, t10])])
    c, (c9,) = catalog.klass(program, [(10, [t9])])
    return {
        "id": program, "t9": t9, "t10": t10, "a": a, "b": b, "c": c,
        "a9": a9, "a10": a10, "b9": b9, "c9": c9,
    }  # fmt: skip


def ranking(sessions, program_id, student_id=1):
    with sessions() as session:
        return interest.get_priorities(session, program_id, student_id)


def stars(sessions, program_id, student_id=1):
    with sessions() as session:
        return interest.active_stars(session, program_id, student_id)


def test_priority_rank():
    assert [priority_rank(v) for v in ("Priority/1", "Priority/3", "Enrolled", None)] == [
        1,
        3,
        None,
        None,
    ]
    assert priority_rank("Priority/0") is None and priority_rank("Priority/x") is None


def test_accepted_priorities_rank_classes_in_the_first_timeslot_and_star_them(sessions, program):
    p = program["id"]
    batch = [
        outcome(1, program["a9"], "Priority/1", program_id=p),
        outcome(1, program["b9"], "Priority/2", program_id=p),  # first timeslot: 9
        outcome(1, program["c9"], "Priority/3", program_id=p),
    ]
    with sessions.begin() as session:
        assert apply_priority_registrations(session, batch) == 3
    assert ranking(sessions, p) == {program["t9"]: [program["a"], program["b"], program["c"]]}
    assert stars(sessions, p) == sorted([program["a"], program["b"], program["c"]])
    with sessions.begin() as session:  # redelivered: nothing changes
        assert apply_priority_registrations(session, batch) == 3
    assert ranking(sessions, p) == {program["t9"]: [program["a"], program["b"], program["c"]]}
    assert stars(sessions, p) == sorted([program["a"], program["b"], program["c"]])


def test_a_drop_takes_the_class_out_without_renumbering(sessions, program):
    p = program["id"]
    with sessions.begin() as session:
        apply_priority_registrations(
            session,
            [
                outcome(1, program["a9"], "Priority/1", program_id=p),
                outcome(1, program["b9"], "Priority/2", program_id=p),
                outcome(1, program["a9"], "Priority/1", action="drop", program_id=p),
            ],
        )
    with sessions() as session:
        rows = session.execute(select(PriorityRow.rank, PriorityRow.class_id)).all()
    assert rows == [(2, program["b"])]  # ranks are not renumbered
    with sessions.begin() as session:  # the next choice takes the free level 1
        apply_priority_registrations(
            session, [outcome(1, program["c9"], "Priority/1", program_id=p)]
        )
    assert ranking(sessions, p) == {program["t9"]: [program["c"], program["b"]]}
    assert program["a"] in stars(sessions, p)  # the star stays


def test_others_are_skipped(sessions, program, caplog):
    p = program["id"]
    batch = [
        outcome(1, program["a9"], "Enrolled", program_id=p),  # a seat
        outcome(1, program["b9"], "Priority/1", status="rejected", program_id=p),
        outcome(1, program["c9"], "Priority/1", origin="lottery-run:3", program_id=p),
        outcome(1, 999, "Priority/1", program_id=p),  # a section not learnt yet
        outcome(2, program["a10"], "Waitlisted", program_id=p),
    ]
    with sessions.begin() as session, caplog.at_level(logging.WARNING):
        assert apply_priority_registrations(session, batch) == 0
    assert "not known yet" in caplog.text
    assert ranking(sessions, p) == {} and stars(sessions, p) == []


def test_apply_outcomes_applies_them_and_counts_only_runs(sessions, program):
    p = program["id"]
    with sessions.begin() as session:
        assert commits.apply_outcomes(session, [outcome(1, program["a10"], "Priority/1")]) == 0
    assert ranking(sessions, p) == {program["t10"]: [program["a"]]}
