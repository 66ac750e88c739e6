"""First choices shared evenly among assignments equal on every objective."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from lottery_service.domain.check import violations
from lottery_service.domain.evenness import share_first_choices
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
from lottery_service.domain.schedule_rules import ScheduleRule
from lottery_service.domain.stats import lottery_stats
from lottery_testkit import generate

REPORT = SolverReport(Method.OPTIMISER, False, None, 0.0)

# X (timeslot 1) and Y (timeslot 2) are A's first choices; Y is B's too, and B holds Z at 1.
X, Y, Z = (
    Section(1, 10, 1, (1,), 7, 12),
    Section(2, 20, 1, (2,), 7, 12),
    Section(3, 30, 1, (1,), 7, 12),
)
A = Student(1, 9, frozenset({10, 20}), {1: (10,), 2: (20,)})
B = Student(2, 9, frozenset({20, 30}), {2: (20,)})
UNEVEN = (Assignment(1, 1), Assignment(1, 2), Assignment(2, 3))


def objectives(lottery: LotteryInput, assignments: tuple[Assignment, ...]) -> dict[str, object]:
    stats = lottery_stats(lottery, LotteryResult(assignments, REPORT))
    return {
        "priority": {rank: level["met"] for rank, level in stats["priority"].items()},
        "students": stats["students_with_classes"],
        "seats": stats["seats_filled"],
        "stars": stats["stars"]["met"],
    }


def without_first_choice(lottery: LotteryInput, assignments: tuple[Assignment, ...]) -> int:
    stats = lottery_stats(lottery, LotteryResult(assignments, REPORT))
    return int(stats["first_choices_per_student"].get("0", 0))


def test_a_first_choice_passes_to_the_student_without_one():
    lottery = LotteryInput((X, Y, Z), (A, B))
    shared = share_first_choices(lottery, UNEVEN, random.Random(0))
    assert set(shared) == {Assignment(1, 1), Assignment(2, 2), Assignment(2, 3)}
    assert objectives(lottery, shared) == objectives(lottery, UNEVEN)


def test_a_donor_whose_schedule_a_rule_needs_keeps_the_seat():
    # "X needs Y": without Y, A's schedule would break the rule.
    rule = ScheduleRule(1, "X needs Y", {"in_sections": [1]}, {"in_sections": [2]})
    lottery = LotteryInput((X, Y, Z), (A, B), rules=(rule,))
    assert share_first_choices(lottery, UNEVEN, random.Random(0)) == UNEVEN


def test_a_student_with_no_class_is_not_added_past_the_programs_capacity():
    lonely = Student(2, 9, frozenset({20}), {2: (20,)})
    given = (Assignment(1, 1), Assignment(1, 2))
    full = LotteryInput((X, Y), (A, lonely), student_capacity=1)
    assert share_first_choices(full, given, random.Random(0)) == given
    room = LotteryInput((X, Y), (A, lonely), student_capacity=2)
    assert set(share_first_choices(room, given, random.Random(0))) == {
        Assignment(1, 1),
        Assignment(2, 2),
    }


@pytest.mark.parametrize("seed", range(3))
def test_on_generated_programs_every_objective_stays_and_fewer_go_without(seed):
    lottery = generate(400, 60, 6, seed)
    solved = optimise(lottery)
    assert violations(lottery, solved) == []
    # The optimiser made the moves already: run again, they find nothing more to move.
    again = share_first_choices(lottery, solved.assignments, random.Random(seed))
    assert set(again) == set(solved.assignments)
    # And from an uneven start (first choices stacked on the students sorted first), the moves
    # keep every objective and leave fewer students without a first choice.
    stacked = _stacked(lottery)
    shared = share_first_choices(lottery, stacked, random.Random(seed))
    result = LotteryResult(shared, REPORT)
    assert violations(lottery, result) == []
    before, after = objectives(lottery, stacked), objectives(lottery, shared)
    assert after["students"] >= before["students"]  # a student with no class may gain one
    assert {**after, "students": 0} == {**before, "students": 0}
    assert without_first_choice(lottery, shared) < without_first_choice(lottery, stacked)


def _stacked(lottery: LotteryInput) -> tuple[Assignment, ...]:
    """A valid assignment that serves students in id order, first choices first."""
    seats = Counter[int]()
    busy: dict[int, set[int]] = {}
    classes: dict[int, set[int]] = {}
    out = []
    for student in sorted(lottery.students, key=lambda s: s.id):
        for rank in range(3):
            for section in lottery.sections:
                ranked = student.priorities.get(section.first_timeslot, ())
                if len(ranked) <= rank or ranked[rank] != section.class_id:
                    continue
                if not section.admits(student.grade) or seats[section.id] >= section.capacity:
                    continue
                mine = busy.setdefault(student.id, set())
                held = classes.setdefault(student.id, set())
                if mine & set(section.timeslot_ids) or section.class_id in held:
                    continue
                n = len(held)
                if student.max_sections is not None and n >= student.max_sections:
                    continue
                if (
                    student.max_timeslots is not None
                    and len(mine) + len(section.timeslot_ids) > student.max_timeslots
                ):
                    continue
                seats[section.id] += 1
                mine.update(section.timeslot_ids)
                held.add(section.class_id)
                out.append(Assignment(student.id, section.id))
    return tuple(out)
