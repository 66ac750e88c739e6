"""Priority mode: an enroll in a ``use_priority`` program records ``Priority/N``, no seat."""

from datetime import UTC, datetime, timedelta

import pytest
from registration_service.domain.model import (
    Holding,
    PriorityPick,
    Program,
    Section,
    Student,
)
from registration_service.domain.reasons import Reason, message_for
from registration_service.domain.rules import check_enroll, takes_priority

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
PROGRAM = Program(id=1, grade_min=7, grade_max=12, use_priority=True)
STUDENT = Student(id=5, profile_complete=True, grade=9, in_program=False)


def section(section_id: int, class_id: int, slots=(1,), **changes) -> Section:
    values = {
        "id": section_id,
        "class_id": class_id,
        "capacity": 2,
        "enrolled": 0,
        "timeslot_ids": frozenset(slots),
        "grade_min": 7,
        "grade_max": 12,
        **changes,
    }
    return Section(**values)


def pick(section_id: int, class_id: int, level: int, slots=(1,)) -> PriorityPick:
    return PriorityPick(section_id, class_id, frozenset(slots), level)


def choose(program, sec, student):
    return check_enroll(program, sec, student, NOW, priority=True)


def test_takes_priority_only_for_a_students_enroll_in_a_priority_program():
    assert takes_priority(PROGRAM)
    assert not takes_priority(PROGRAM, placed_by_admin=True)  # a lottery commit places seats
    assert not takes_priority(Program(id=1, grade_min=7, grade_max=12))


def test_three_sections_starting_in_one_timeslot_get_priority_1_2_3():
    student = STUDENT
    verbs = []
    for n in range(3):
        sec = section(10 + n, 100 + n)
        decision = choose(PROGRAM, sec, student)
        assert decision.accepted
        verbs.append(decision.verb)
        level = int(decision.verb.removeprefix("Priority/"))
        student = Student(
            **{
                **student.__dict__,
                "priorities": (*student.priorities, pick(sec.id, sec.class_id, level)),
            }
        )
    assert verbs == ["Priority/1", "Priority/2", "Priority/3"]


def test_priority_levels_count_only_overlapping_choices_and_fill_gaps():
    student = Student(
        **{**STUDENT.__dict__, "priorities": (pick(1, 1, 2), pick(2, 2, 1, slots=(9,)))}
    )
    assert choose(PROGRAM, section(10, 100), student).verb == "Priority/1"  # /1 was dropped
    other = Student(**{**STUDENT.__dict__, "priorities": (pick(1, 1, 1),)})
    assert choose(PROGRAM, section(10, 100, slots=(2,)), other).verb == "Priority/1"


def test_past_the_priority_limit_the_request_is_rejected_with_the_limit_in_its_message():
    program = Program(**{**PROGRAM.__dict__, "priority_limit": 2})
    student = Student(**{**STUDENT.__dict__, "priorities": (pick(1, 1, 1), pick(2, 2, 2))})
    decision = choose(program, section(10, 100), student)
    assert (decision.accepted, decision.reason) == (False, Reason.PRIORITY_LIMIT_REACHED)
    assert decision.message == "You may choose up to 2 classes per timeslot."
    one = Student(**{**STUDENT.__dict__, "priorities": (pick(1, 1, 1),)})
    assert choose(program, section(10, 100), one).verb == "Priority/2"


def test_the_priority_limit_message_names_the_limit():
    assert message_for(Reason.PRIORITY_LIMIT_REACHED, "3") == (
        "You may choose up to 3 classes per timeslot."
    )


def test_capacity_and_head_count_do_not_apply_to_a_choice():
    full = section(10, 100, enrolled=2)
    program = Program(**{**PROGRAM.__dict__, "student_capacity": 0})
    assert choose(program, full, STUDENT).verb == "Priority/1"


def test_enrolled_in_the_timeslot_is_a_time_conflict():
    student = Student(**{**STUDENT.__dict__, "holdings": (Holding(1, 1, frozenset({1})),)})
    assert choose(PROGRAM, section(10, 100), student).reason == Reason.TIME_CONFLICT


@pytest.mark.parametrize(
    "holding",
    [
        {"holdings": (Holding(1, 100, frozenset({7})),)},
        {"priorities": (pick(1, 100, 1, slots=(7,)),)},
        {"priorities": (pick(1, 100, 1),)},
    ],
)
def test_a_seat_or_a_choice_in_the_class_is_already_in_class(holding):
    student = Student(**{**STUDENT.__dict__, **holding})
    assert choose(PROGRAM, section(10, 100), student).reason == Reason.ALREADY_IN_CLASS


@pytest.mark.parametrize(
    ("program", "sec", "student", "reason"),
    [
        (
            Program(**{**PROGRAM.__dict__, "registration_opens_at": NOW + timedelta(seconds=1)}),
            section(10, 100),
            STUDENT,
            Reason.REGISTRATION_CLOSED,
        ),
        (PROGRAM, section(10, 100), Student(5, False, None, False), Reason.PROFILE_INCOMPLETE),
        (PROGRAM, section(10, 100, grade_min=11), STUDENT, Reason.GRADE_OUT_OF_RANGE),
        (PROGRAM, section(10, 100, is_open=False), STUDENT, Reason.SECTION_CLOSED),
    ],
)
def test_the_other_rules_still_apply(program, sec, student, reason):
    assert choose(program, sec, student).reason == reason


def test_the_accepted_message_names_the_level():
    assert choose(PROGRAM, section(10, 100), STUDENT).message == (
        "You chose this section as priority 1."
    )
