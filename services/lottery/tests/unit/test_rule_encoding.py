"""The schedule constraints inside the integer program, against brute force: on small programs
the optimiser's result keeps every constraint (nothing left to repair) and is as good, objective
by objective, as the best of every assignment that keeps them. Lunch sections are given without
a star where a student's classes need one, and only there."""

from __future__ import annotations

import itertools
import random
from dataclasses import replace

import pytest
from lottery_service.domain.check import violations
from lottery_service.domain.model import LotteryInput, Section, Student
from lottery_service.domain.optimizer import lp_bounds, optimise
from lottery_service.domain.rule_encoding import required_sections
from lottery_service.domain.schedule_rules import ScheduleRule, repair

MORNING, EARLY_LUNCH, LATE_LUNCH, AFTERNOON, EVENING = 1, 2, 3, 4, 5
LUNCH_CLASS = 90
LUNCH = (
    Section(91, LUNCH_CLASS, 2, (EARLY_LUNCH,), 7, 12),
    Section(92, LUNCH_CLASS, 1, (LATE_LUNCH,), 7, 12),
)
LUNCH_RULE = ScheduleRule(
    1,
    "Take a lunch period",
    {
        "all": [
            {"any": [{"occupied": MORNING}]},
            {"any": [{"occupied": t} for t in (AFTERNOON, EVENING)]},
        ]
    },
    {"in_sections": [91, 92]},
)
PREREQUISITE = ScheduleRule(2, "Knots needs Rope", {"in_class": 3}, {"in_class": 4})
NO_EVENING = ScheduleRule(
    3, "No evening for Rockets", {"in_class": 5}, {"not": {"occupied": EVENING}}
)
EITHER = ScheduleRule(
    4,
    "Two classes or none",
    {"any": [{"in_class": 1}, {"in_class": 2}]},
    {"all": [{"in_class": 1}, {"in_class": 2}]},
)


def program(seed: int) -> LotteryInput:
    rng = random.Random(seed)
    slots = (MORNING, EARLY_LUNCH, LATE_LUNCH, AFTERNOON, EVENING)
    sections = [*LUNCH]
    for class_id in range(1, 7):
        for n in range(rng.choice((1, 1, 2))):
            slot = rng.choice(slots)
            sections.append(Section(class_id * 10 + n, class_id, rng.randint(1, 2), (slot,), 7, 12))
    students = []
    for student_id in range(1, 4):
        stars = frozenset(rng.sample(range(1, 7), rng.randint(2, 4)))
        first = rng.choice(sorted(stars))
        at = next((s.first_timeslot for s in sections if s.class_id == first), MORNING)
        students.append(Student(student_id, 9, stars=stars, priorities={at: (first,)}))
    rules = (LUNCH_RULE, PREREQUISITE, NO_EVENING, EITHER)
    return LotteryInput(tuple(sections), tuple(students), rules=rules, seed=seed)


def objectives(
    lottery: LotteryInput, schedules: dict[int, tuple[Section, ...]]
) -> tuple[int, int, int]:
    """(first choices met, students with a starred class, starred seats filled)."""
    students = {s.id: s for s in lottery.students}
    first = placed = seats = 0
    for student_id, held in schedules.items():
        student = students[student_id]
        starred = [s for s in held if s.class_id in student.starred]
        seats += len(starred)
        placed += bool(starred)
        for section in starred:
            if student.priorities.get(section.first_timeslot, ())[:1] == (section.class_id,):
                first += 1
    return first, placed, seats


def best_by_brute_force(lottery: LotteryInput) -> tuple[int, int, int]:
    """Every schedule each student may hold (starred or required sections, one per class and
    timeslot, every rule kept), every combination within capacity: the best objectives."""
    required = required_sections(lottery.rules, lottery.sections)
    options = []
    for student in lottery.students:
        allowed = [s for s in lottery.sections if s.class_id in student.starred or s.id in required]
        mine = []
        for size in range(len(allowed) + 1):
            for held in itertools.combinations(allowed, size):
                slots = [t for s in held for t in s.timeslot_ids]
                classes = [s.class_id for s in held]
                if len(set(slots)) < len(slots) or len(set(classes)) < len(classes):
                    continue
                if held and any(rule.broken_by(held) for rule in lottery.rules):
                    continue
                mine.append(held)
        options.append(mine)
    capacity = {s.id: s.capacity for s in lottery.sections}
    best = (-1, -1, -1)
    for combo in itertools.product(*options):
        taken: dict[int, int] = {}
        for held in combo:
            for s in held:
                taken[s.id] = taken.get(s.id, 0) + 1
        if any(n > capacity[sid] for sid, n in taken.items()):
            continue
        schedules = {st.id: held for st, held in zip(lottery.students, combo, strict=True)}
        best = max(best, objectives(lottery, schedules))
    return best


@pytest.mark.parametrize("seed", range(12))
def test_the_optimiser_keeps_every_constraint_and_matches_brute_force(seed):
    lottery = program(seed)
    result = optimise(lottery, time_limit=5)
    assert violations(lottery, result) == []
    assert repair(lottery, result)[1] == []  # nothing for the net to catch
    sections = {s.id: s for s in lottery.sections}
    schedules: dict[int, tuple[Section, ...]] = {}
    for a in result.assignments:
        schedules[a.student_id] = (*schedules.get(a.student_id, ()), sections[a.section_id])
    assert objectives(lottery, schedules) == best_by_brute_force(lottery)
    for student_id, held in schedules.items():  # a lunch section only where a rule needs it
        for lunch in (s for s in held if s.class_id == LUNCH_CLASS):
            rest = [s for s in held if s is not lunch]
            assert any(rule.broken_by(rest) for rule in lottery.rules), (student_id, lunch.id)


def four_around_lunch() -> LotteryInput:
    """Four students who rank a morning and an afternoon class first; three lunch seats."""
    sections = (
        *LUNCH,
        Section(11, 1, 5, (MORNING,), 7, 12),
        Section(21, 2, 5, (AFTERNOON,), 7, 12),
    )
    students = tuple(
        Student(i, 9, stars=frozenset({1, 2}), priorities={MORNING: (1,), AFTERNOON: (2,)})
        for i in (1, 2, 3, 4)
    )
    return LotteryInput(sections, students, rules=(LUNCH_RULE,))


def test_a_student_with_classes_on_both_sides_of_lunch_is_given_lunch():
    lottery = four_around_lunch()
    result = optimise(lottery, time_limit=5)
    assert violations(lottery, result) == []
    held = {(a.student_id, a.section_id) for a in result.assignments}
    both = [i for i in (1, 2, 3, 4) if (i, 11) in held and (i, 21) in held]
    assert len(both) == 3  # three lunch seats (two early, one late): three keep both classes
    for student in both:
        assert (student, 91) in held or (student, 92) in held
    assert sum((i, 11) in held or (i, 21) in held for i in (1, 2, 3, 4)) == 4  # nobody left out


def test_the_first_choices_bound_of_a_program_with_rules_keeps_them():
    """Four students rank a morning and an afternoon class first; three lunch seats: seven
    first choices at most with the rule, eight without. The run's bound is the one with it."""
    lottery = four_around_lunch()
    bounds = lp_bounds(lottery)
    assert bounds["first_choices_met"] == pytest.approx(7.0, abs=1e-6)
    assert bounds["first_choices_met_without_rules"] == pytest.approx(8.0, abs=1e-6)
    assert "first_choices_met_without_rules" not in lp_bounds(replace(lottery, rules=()))
