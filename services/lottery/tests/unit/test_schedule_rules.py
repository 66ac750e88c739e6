"""The program's schedule constraints in a run: each expression read as registration reads it,
and the repair that leaves every student a schedule registration accepts, giving up the fewest
and least wanted sections."""

from itertools import combinations

from lottery_service.domain.check import violations
from lottery_service.domain.model import (
    Assignment,
    LotteryInput,
    LotteryResult,
    Method,
    Section,
    SolverReport,
    Student,
)
from lottery_service.domain.optimizer import optimise
from lottery_service.domain.schedule_rules import ScheduleRule, _Held, described, holds, repair
from lottery_testkit import generate

REPORT = SolverReport(Method.OPTIMISER, optimal=True, gap=0.0, seconds=0.1)
MORNING, LUNCH, AFTERNOON = 1, 2, 3
SECTIONS = (
    Section(1, 1, 10, (MORNING,), 7, 12),
    Section(2, 2, 10, (AFTERNOON,), 7, 12),
    Section(3, 3, 10, (AFTERNOON,), 7, 12),
    Section(9, 9, 10, (LUNCH,), 7, 12),  # the Lunch class
)
LUNCH_RULE = ScheduleRule(
    7,
    "Take a lunch period",
    {"all": [{"any": [{"occupied": MORNING}]}, {"any": [{"occupied": AFTERNOON}]}]},
    {"in_sections": [9]},
)


def held(*ids: int) -> _Held:
    return _Held.of(s for s in SECTIONS if s.id in ids)


def result_of(*pairs: tuple[int, int]) -> LotteryResult:
    return LotteryResult(tuple(Assignment(s, x) for s, x in pairs), REPORT)


def test_each_operator_reads_the_schedule_as_registration_does():
    schedule = held(1, 9)
    assert holds({"occupied": MORNING}, schedule) and not holds({"occupied": AFTERNOON}, schedule)
    assert holds({"in_class": 9}, schedule) and not holds({"in_class": 2}, schedule)
    assert holds({"in_sections": [2, 9]}, schedule) and not holds({"in_sections": [2]}, schedule)
    assert holds({"not": {"in_class": 2}}, schedule)
    assert holds({"all": []}, schedule) and not holds({"any": []}, schedule)
    assert holds({"any": [{"in_class": 2}, {"in_class": 1}]}, schedule)
    assert not holds({"all": [{"in_class": 2}, {"in_class": 1}]}, schedule)
    assert LUNCH_RULE.broken_by(s for s in SECTIONS if s.id in (1, 2))
    assert not LUNCH_RULE.broken_by(s for s in SECTIONS if s.id in (1, 2, 9))
    assert not LUNCH_RULE.broken_by(s for s in SECTIONS if s.id in (1,))


def test_a_schedule_breaking_lunch_gives_up_its_least_wanted_section():
    students = (
        Student(1, 9, stars=frozenset({2}), priorities={MORNING: (1,)}),  # 1 is its first choice
        Student(2, 9, stars=frozenset({1, 2, 9})),  # has lunch: nothing to repair
        Student(3, 9, priorities={AFTERNOON: (3,)}, stars=frozenset({1})),  # 3 its first choice
    )
    lottery = LotteryInput(SECTIONS, students, rules=(LUNCH_RULE,))
    solved = result_of((1, 1), (1, 2), (2, 1), (2, 2), (2, 9), (3, 1), (3, 3))
    assert violations(lottery, solved) == [
        "student 1: breaks constraint 7 'Take a lunch period'",
        "student 3: breaks constraint 7 'Take a lunch period'",
    ]
    repaired, repairs = repair(lottery, solved)
    assert [(r.student_id, r.dropped_section_ids) for r in repairs] == [(1, (2,)), (3, (1,))]
    assert violations(lottery, repaired) == []
    assert described(repairs)[0] == {
        "student_id": 1,
        "constraints": [{"id": 7, "label": "Take a lunch period"}],
        "dropped_section_ids": [2],
    }


def test_a_repaired_schedule_is_accepted_whatever_order_its_enrollments_are_decided_in():
    """Registration checks each enrollment against the schedule it makes. A rule whose condition
    only grows with the schedule (as lunch's: a class before and one after) and that a repaired
    schedule keeps by not meeting the condition is kept by every part of it. (A schedule that
    keeps lunch by holding a lunch section is not: its two classes decided before its lunch are
    refused: a run's commit decides the sections a constraint asks for first, see
    lottery_service.use_cases.commits.)"""
    lottery = generate(60, 12, 4, seed=3)
    afternoon = {s.first_timeslot for s in lottery.sections} - {1, 2}
    rule = ScheduleRule(
        1,
        "no class on both sides",
        {"all": [{"occupied": 1}, {"any": [{"occupied": t} for t in sorted(afternoon)]}]},
        {"in_sections": []},  # nothing satisfies it: the condition must not hold
    )
    unruled = optimise(lottery, time_limit=5)
    lottery = LotteryInput(lottery.sections, lottery.students, rules=(rule,))
    assert violations(lottery, unruled)  # the generated schedules would break it
    repaired, repairs = repair(lottery, optimise(lottery, time_limit=5))
    assert repairs == []  # the solver kept it itself
    assert violations(lottery, repaired) == []
    sections = {s.id: s for s in lottery.sections}
    by_student: dict[int, list[Section]] = {}
    for a in repaired.assignments:
        by_student.setdefault(a.student_id, []).append(sections[a.section_id])
    for schedule in by_student.values():
        for size in range(1, len(schedule) + 1):
            for part in combinations(schedule, size):
                assert not rule.broken_by(part)


def test_a_program_without_constraints_is_left_as_solved():
    lottery = LotteryInput(SECTIONS, (Student(1, 9, stars=frozenset({1, 2})),))
    solved = result_of((1, 1), (1, 2))
    assert repair(lottery, solved) == (solved, [])


def test_a_student_with_many_sections_is_repaired_without_trying_every_set():
    """Past EXHAUSTIVE_UP_TO sections the least wanted go one at a time; a rule nothing kept can
    keep takes every section at once."""
    from lottery_service.domain.schedule_rules import EXHAUSTIVE_UP_TO

    n = EXHAUSTIVE_UP_TO + 8
    sections = tuple(Section(i, i, 10, (i,), 7, 12) for i in range(1, n + 1))
    wanted = {i: (i,) for i in range(1, 4)}  # sections 1-3 are first choices
    student = Student(1, 9, stars=frozenset(range(1, n + 1)), priorities=wanted)
    at_most_three = ScheduleRule(
        1, "three at most", {"in_sections": [n]}, {"not": {"in_sections": [n - 1]}}
    )
    lottery = LotteryInput(sections, (student,), rules=(at_most_three,))
    solved = result_of(*((1, i) for i in range(1, n + 1)))
    repaired, [only] = repair(lottery, solved)
    assert violations(lottery, repaired) == []
    assert len(only.dropped_section_ids) == 1 and only.dropped_section_ids[0] in (n - 1, n)
    never = ScheduleRule(2, "always lunch", None, {"in_class": 999})
    emptied, _ = repair(LotteryInput(sections, (student,), rules=(never,)), solved)
    assert emptied.assignments == ()
