"""Every rule of a decision, without a database."""

from datetime import UTC, datetime, timedelta

import pytest
from registration_service.domain.model import (
    ENROLLED,
    WAITLISTED,
    Holding,
    Program,
    Section,
    Student,
    is_valid,
    next_priority_level,
    priority_level,
    priority_verb,
)
from registration_service.domain.reasons import MESSAGES, Reason
from registration_service.domain.rules import check_drop, check_enroll, check_switch

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
PROGRAM = Program(id=1, grade_min=7, grade_max=12)
SECTION = Section(
    id=10,
    class_id=100,
    capacity=2,
    enrolled=0,
    timeslot_ids=frozenset({1}),
    grade_min=7,
    grade_max=12,
)
STUDENT = Student(id=5, profile_complete=True, grade=9, in_program=False)


def section(**changes):
    return SECTION.__class__(**{**SECTION.__dict__, **changes})


def student(**changes):
    return STUDENT.__class__(**{**STUDENT.__dict__, **changes})


def program(**changes):
    return PROGRAM.__class__(**{**PROGRAM.__dict__, **changes})


def test_a_student_who_meets_every_rule_is_enrolled():
    decision = check_enroll(PROGRAM, SECTION, STUDENT, NOW)
    assert (decision.accepted, decision.verb, decision.reason) == (True, ENROLLED, None)


@pytest.mark.parametrize(
    ("prog", "sec", "stu", "reason"),
    [
        (
            program(registration_opens_at=NOW + timedelta(seconds=1)),
            SECTION,
            STUDENT,
            Reason.REGISTRATION_CLOSED,
        ),
        (
            program(registration_closes_at=NOW - timedelta(seconds=1)),
            SECTION,
            STUDENT,
            Reason.REGISTRATION_CLOSED,
        ),
        (PROGRAM, SECTION, student(profile_complete=False, grade=None), Reason.PROFILE_INCOMPLETE),
        (PROGRAM, SECTION, student(grade=6), Reason.GRADE_OUT_OF_RANGE),
        (PROGRAM, section(grade_min=10), STUDENT, Reason.GRADE_OUT_OF_RANGE),
        (PROGRAM, section(is_open=False), STUDENT, Reason.SECTION_CLOSED),
        (
            PROGRAM,
            SECTION,
            student(holdings=(Holding(11, 100, frozenset({2})),)),
            Reason.ALREADY_IN_CLASS,
        ),
        (
            PROGRAM,
            SECTION,
            student(holdings=(Holding(12, 200, frozenset({1, 3})),)),
            Reason.TIME_CONFLICT,
        ),
        (program(student_capacity=3, student_count=3), SECTION, STUDENT, Reason.PROGRAM_FULL),
        (PROGRAM, section(enrolled=2), STUDENT, Reason.SECTION_FULL),
    ],
)
def test_each_rejection_names_its_reason(prog, sec, stu, reason):
    decision = check_enroll(prog, sec, stu, NOW)
    assert (decision.accepted, decision.reason) == (False, reason)
    assert decision.message == MESSAGES[reason]


def test_registration_window_bounds_are_inclusive():
    window = program(registration_opens_at=NOW, registration_closes_at=NOW + timedelta(hours=1))
    assert check_enroll(window, SECTION, STUDENT, NOW).accepted
    assert check_enroll(window, SECTION, STUDENT, NOW + timedelta(hours=1)).accepted


def test_a_student_already_in_a_full_program_may_still_join_another_class():
    full = program(student_capacity=3, student_count=3)
    assert check_enroll(full, SECTION, student(in_program=True), NOW).accepted


def test_a_full_section_waitlists_when_asked():
    decision = check_enroll(PROGRAM, section(enrolled=2), STUDENT, NOW, waitlist=True)
    assert (decision.accepted, decision.verb) == (True, WAITLISTED)


def test_conflicts_need_a_shared_timeslot():
    holding = Holding(12, 200, frozenset({2}))
    assert check_enroll(
        PROGRAM, section(timeslot_ids=frozenset({1, 3})), student(holdings=(holding,)), NOW
    ).accepted


def test_switch_stays_in_the_class_and_ignores_the_section_given_up():
    held = Holding(11, 100, frozenset({1}))
    target = section(id=12, timeslot_ids=frozenset({1}))
    holder = student(holdings=(held,), in_program=True)
    from_section = section(id=11)
    assert check_switch(PROGRAM, from_section, target, holder, NOW).accepted
    other_class = section(id=13, class_id=999)
    assert (
        check_switch(PROGRAM, from_section, other_class, holder, NOW).reason
        is Reason.DIFFERENT_CLASS
    )
    assert check_switch(PROGRAM, from_section, target, STUDENT, NOW).reason is Reason.NOT_REGISTERED
    assert (
        check_switch(PROGRAM, from_section, section(id=12, enrolled=2), holder, NOW).reason
        is Reason.SECTION_FULL
    )


def test_drop_needs_a_registration_and_an_open_window():
    assert check_drop(PROGRAM, True, NOW).accepted
    assert check_drop(PROGRAM, False, NOW).reason is Reason.NOT_REGISTERED
    closed = program(registration_closes_at=NOW - timedelta(days=1))
    assert check_drop(closed, True, NOW).reason is Reason.REGISTRATION_CLOSED


def test_a_request_an_admin_placed_is_not_bound_by_the_window_but_by_every_other_rule():
    closed = program(registration_closes_at=NOW - timedelta(days=1))
    assert check_enroll(closed, SECTION, STUDENT, NOW, placed_by_admin=True).accepted
    assert check_drop(closed, True, NOW, placed_by_admin=True).accepted
    assert check_drop(closed, False, NOW, placed_by_admin=True).reason is Reason.NOT_REGISTERED
    for sec, stu, reason in (
        (section(enrolled=2), STUDENT, Reason.SECTION_FULL),
        (section(is_open=False), STUDENT, Reason.SECTION_CLOSED),
        (SECTION, student(grade=6), Reason.GRADE_OUT_OF_RANGE),
        (SECTION, student(holdings=(Holding(12, 200, frozenset({1})),)), Reason.TIME_CONFLICT),
    ):
        assert check_enroll(closed, sec, stu, NOW, placed_by_admin=True).reason is reason


def test_validity_bounds_are_inclusive_and_no_end_is_open_ended():
    start, end = NOW, NOW + timedelta(days=1)
    assert is_valid(start, end, start)
    assert is_valid(start, end, end)
    assert not is_valid(start, end, start - timedelta(microseconds=1))
    assert not is_valid(start, end, end + timedelta(microseconds=1))
    assert is_valid(start, None, NOW + timedelta(days=3650))


def test_priority_levels():
    assert next_priority_level(True, {1, 2}) == 0
    assert next_priority_level(False, set()) == 1
    assert next_priority_level(False, {1, 2, 4}) == 3
    assert priority_level(priority_verb(3)) == 3
    assert priority_level("Priority/0") is None
    assert priority_level("Priority/x") is None
    assert priority_level(ENROLLED) is None


def test_every_reason_has_a_message():
    assert set(MESSAGES) == set(Reason)
