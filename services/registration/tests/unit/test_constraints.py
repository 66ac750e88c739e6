"""Schedule constraints without a database: the interpreter, the validator and the rules."""

from datetime import UTC, datetime

import pytest
from registration_service.domain.constraints import (
    MAX_DEPTH,
    MAX_NODES,
    Reference,
    Schedule,
    ScheduleConstraint,
    evaluate,
    first_broken,
    parse,
)
from registration_service.domain.model import ENROLLED, Holding, Program, Section, Student
from registration_service.domain.reasons import Reason
from registration_service.domain.rules import check_drop, check_enroll, check_switch

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
# Timeslots 1 (9:00), 2 (lunch) and 3 (11:00); class 10 before lunch, 20 lunch, 30 after.
BEFORE = Holding(section_id=100, class_id=10, timeslot_ids=frozenset({1}))
LUNCH = Holding(section_id=200, class_id=20, timeslot_ids=frozenset({2}))
AFTER = Holding(section_id=300, class_id=30, timeslot_ids=frozenset({3}))
LUNCH_RULE = {"condition": {"all": [{"occupied": 1}, {"occupied": 3}]}}
LUNCH_RULE["requirement"] = {"in_sections": [200]}


def expression(raw):
    parsed = parse(raw, "requirement")
    assert parsed.errors == {}, parsed.errors
    return parsed.expression


def holds(raw, *holdings):
    return evaluate(expression(raw), holdings)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"occupied": 1}, True),
        ({"occupied": 2}, False),
        ({"in_class": 10}, True),
        ({"in_class": 20}, False),
        ({"in_sections": [999, 300]}, True),
        ({"in_sections": [200]}, False),
        ({"in_sections": []}, False),
        ({"all": []}, True),
        ({"any": []}, False),
        ({"not": {"all": []}}, False),
        ({"not": {"any": []}}, True),
        ({"all": [{"occupied": 1}, {"occupied": 3}]}, True),
        ({"all": [{"occupied": 1}, {"occupied": 2}]}, False),
        ({"any": [{"occupied": 2}, {"in_class": 30}]}, True),
        ({"any": [{"occupied": 2}, {"in_class": 20}]}, False),
        ({"not": {"occupied": 2}}, True),
        ({"not": {"not": {"occupied": 1}}}, True),
    ],
)
def test_each_operator_on_a_schedule_of_the_class_before_and_after_lunch(raw, expected):
    assert holds(raw, BEFORE, AFTER) is expected


@pytest.mark.parametrize(("a", "b"), [(False, False), (False, True), (True, False), (True, True)])
def test_all_any_and_not_follow_their_truth_tables(a, b):
    held = [h for h, on in ((BEFORE, a), (AFTER, b)) if on]
    both = [{"occupied": 1}, {"occupied": 3}]
    assert holds({"all": both}, *held) is (a and b)
    assert holds({"any": both}, *held) is (a or b)
    assert holds({"not": {"occupied": 1}}, *held) is (not a)


def test_an_empty_schedule_holds_only_what_needs_nothing():
    assert holds({"all": []}) and not holds({"occupied": 1}) and holds({"not": {"in_class": 10}})


def test_a_constraint_binds_only_when_its_condition_holds():
    rule = ScheduleConstraint(
        1, "Take a lunch period", expression(LUNCH_RULE["condition"]), expression({"in_class": 20})
    )
    assert rule.broken_by(Schedule.of([BEFORE, AFTER]))
    assert not rule.broken_by(Schedule.of([BEFORE, LUNCH, AFTER]))
    assert not rule.broken_by(Schedule.of([BEFORE]))  # the condition does not hold
    always = ScheduleConstraint(2, "Take lunch", None, expression({"in_class": 20}))
    assert always.broken_by(Schedule.of([])) and not always.broken_by(Schedule.of([LUNCH]))
    assert first_broken([always, rule], [BEFORE, AFTER]) is always
    assert first_broken([], [BEFORE, AFTER]) is None


def test_a_stored_constraint_that_no_longer_parses_is_an_error_not_a_rule():
    with pytest.raises(ValueError, match="does not parse"):
        ScheduleConstraint.from_json(1, "Bad", None, {"occupied": "x"})


@pytest.mark.parametrize(
    ("raw", "path"),
    [
        ({"all": [{"occupied": 1}, {"occupied": "x"}]}, "requirement.all.1.occupied"),
        ({"all": [{"occupied": 1}, {"occupied": 0}]}, "requirement.all.1.occupied"),
        ({"occupied": True}, "requirement.occupied"),
        ({"occupied": 1.0}, "requirement.occupied"),
        ({"occupied": 2**31}, "requirement.occupied"),
        ({"in_class": None}, "requirement.in_class"),
        ({"in_sections": [1, -2]}, "requirement.in_sections.1"),
        ({"in_sections": 3}, "requirement.in_sections"),
        ({"all": {"occupied": 1}}, "requirement.all"),
        ({"any": "x"}, "requirement.any"),
        ({"not": [{"occupied": 1}]}, "requirement.not"),
        ({"any": [{"occupied": 1, "in_class": 2}]}, "requirement.any.0"),
        ({}, "requirement"),
        ([], "requirement"),
        ("all", "requirement"),
        ({"exec": "rm -rf /"}, "requirement"),
        ({"any": [{"not": {"nope": 1}}]}, "requirement.any.0.not"),
    ],
)
def test_the_validator_names_where_an_expression_is_wrong(raw, path):
    parsed = parse(raw, "requirement")
    assert parsed.expression is None and list(parsed.errors) == [path], parsed.errors


def test_the_validator_names_every_error():
    parsed = parse({"all": [{"occupied": "x"}, {"in_class": 0}, {"not": 5}]}, "condition")
    assert set(parsed.errors) == {
        "condition.all.0.occupied",
        "condition.all.1.in_class",
        "condition.all.2.not",
    }


def test_nesting_and_size_are_bounded():
    deep: dict = {"occupied": 1}
    for _ in range(MAX_DEPTH - 1):
        deep = {"not": deep}
    assert parse(deep, "requirement").errors == {}
    too_deep = parse({"not": deep}, "requirement")
    assert list(too_deep.errors) == ["requirement" + ".not" * MAX_DEPTH]
    assert parse({"any": [{"occupied": 1}] * (MAX_NODES - 1)}, "requirement").errors == {}
    too_big = parse({"any": [{"occupied": 1}] * MAX_NODES}, "requirement")
    assert too_big.errors == {"requirement": [f"Has more than {MAX_NODES} parts."]}
    ids = parse({"in_sections": list(range(1, MAX_NODES + 1))}, "requirement")
    assert list(ids.errors) == ["requirement"]


def test_the_validator_lists_every_id_with_its_path():
    parsed = parse(
        {"any": [{"occupied": 4}, {"in_class": 5}, {"in_sections": [6, 7]}]}, "requirement"
    )
    assert parsed.references == (
        Reference("requirement.any.0.occupied", "timeslot", 4),
        Reference("requirement.any.1.in_class", "class", 5),
        Reference("requirement.any.2.in_sections.0", "section", 6),
        Reference("requirement.any.2.in_sections.1", "section", 7),
    )


# The rules: a program with the lunch rule, a student holding the class before lunch.
RULE = ScheduleConstraint(
    7,
    "Take a lunch period",
    expression(LUNCH_RULE["condition"]),
    expression(LUNCH_RULE["requirement"]),
)
PROGRAM = Program(id=1, grade_min=7, grade_max=12, constraints=(RULE,))


def section_of(holding, capacity=5, enrolled=0):
    return Section(
        holding.section_id, holding.class_id, capacity, enrolled, holding.timeslot_ids, 7, 12
    )


def student(*holdings):
    return Student(id=5, profile_complete=True, grade=9, in_program=True, holdings=holdings)


def test_an_enroll_that_breaks_a_constraint_is_rejected_with_its_label():
    decision = check_enroll(PROGRAM, section_of(AFTER), student(BEFORE), NOW)
    assert decision.reason is Reason.CONSTRAINT_FAILED
    assert decision.message == "This would break a rule of the program: Take a lunch period."
    assert check_enroll(PROGRAM, section_of(AFTER), student(BEFORE, LUNCH), NOW).verb == ENROLLED
    assert check_enroll(PROGRAM, section_of(LUNCH), student(BEFORE), NOW).accepted


def test_a_place_in_line_changes_no_schedule_so_no_constraint_refuses_it():
    full = section_of(AFTER, capacity=1, enrolled=1)
    decision = check_enroll(PROGRAM, full, student(BEFORE), NOW, waitlist=True)
    assert decision.accepted and decision.verb == "Waitlisted"
    assert check_enroll(PROGRAM, full, student(BEFORE), NOW).reason is Reason.SECTION_FULL


def test_a_switch_is_checked_on_the_schedule_it_leaves():
    other_lunch = Holding(section_id=201, class_id=20, timeslot_ids=frozenset({4}))
    decision = check_switch(
        PROGRAM, section_of(LUNCH), section_of(other_lunch), student(BEFORE, LUNCH, AFTER), NOW
    )
    assert decision.reason is Reason.CONSTRAINT_FAILED and "Take a lunch period" in decision.message


def test_a_drop_is_checked_on_the_schedule_it_leaves_unless_an_admin_process_drops():
    left = (BEFORE, AFTER)  # dropping lunch
    assert check_drop(PROGRAM, True, NOW, remaining=left).reason is Reason.CONSTRAINT_FAILED
    assert check_drop(PROGRAM, True, NOW, remaining=(BEFORE, LUNCH)).accepted
    assert check_drop(PROGRAM, True, NOW).accepted  # a place in line: no schedule change
    assert check_drop(PROGRAM, True, NOW, remaining=left, placed_by_admin=True).accepted


def test_a_label_that_ends_a_sentence_is_not_given_a_second_stop():
    rule = ScheduleConstraint(1, "Eat lunch!", None, expression({"in_class": 20}))
    program = Program(id=1, grade_min=7, grade_max=12, constraints=(rule,))
    decision = check_enroll(program, section_of(BEFORE), student(), NOW)
    assert decision.message == "This would break a rule of the program: Eat lunch!"
