"""The waitlist limit in the rules alone: counted per timeslot the section occupies."""

from __future__ import annotations

from datetime import UTC, datetime

from registration_service.domain.model import WAITLISTED, Holding, Program, Section, Student
from registration_service.domain.reasons import Reason
from registration_service.domain.rules import check_enroll

WHEN = datetime(2026, 12, 5, tzinfo=UTC)


def full(section_id: int, *slots: int) -> Section:
    return Section(section_id, section_id, 0, 0, frozenset(slots), 7, 12)


def student(*lines: Section) -> Student:
    waitlisted = tuple(Holding(s.id, s.class_id, s.timeslot_ids) for s in lines)
    return Student(1, True, 9, False, waitlisted=waitlisted)


def test_a_place_in_line_in_the_same_timeslot_counts():
    decision = check_enroll(
        Program(1, 7, 12), full(2, 1, 2), student(full(1, 2)), WHEN, waitlist=True
    )
    assert decision.reason is Reason.WAITLIST_LIMIT_REACHED
    assert decision.message.startswith("You are already on the waitlist for 1 section at")


def test_other_timeslots_the_same_section_and_a_higher_limit_do_not():
    other_slot = check_enroll(
        Program(1, 7, 12), full(2, 1), student(full(1, 2)), WHEN, waitlist=True
    )
    again = check_enroll(Program(1, 7, 12), full(1, 2), student(full(1, 2)), WHEN, waitlist=True)
    roomier = check_enroll(
        Program(1, 7, 12, waitlist_limit_per_timeslot=2),
        full(3, 1),
        student(full(1, 1)),
        WHEN,
        waitlist=True,
    )
    assert [d.verb for d in (other_slot, again, roomier)] == [WAITLISTED] * 3
