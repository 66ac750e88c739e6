"""The randomized greedy fill keeps every assignment rule, is repeatable for one seed, and follows
the ESP order: priorities before stars, rank 1 before rank 2."""

from collections import Counter, defaultdict
from dataclasses import replace

import pytest
from lottery_service.domain.check import violations
from lottery_service.domain.greedy import greedy_fill, top_up
from lottery_service.domain.model import (
    Assignment,
    LotteryInput,
    LotteryResult,
    Method,
    Section,
    SolverReport,
    Student,
)
from lottery_testkit import generate


def sec(id, class_id, slots, capacity=10, grades=(7, 12)):
    return Section(id, class_id, capacity, tuple(slots), grades[0], grades[1])


def pairs(result):
    return {(a.student_id, a.section_id) for a in result.assignments}


@pytest.fixture(scope="module")
def random_runs():
    runs = []
    for seed in range(4):
        lottery = generate(300, 60, 6, seed=seed)
        runs.append((lottery, greedy_fill(lottery)))
    capped = generate(300, 60, 6, seed=9, student_capacity=120)
    runs.append((capped, greedy_fill(capped)))
    return runs


def test_random_inputs_keep_every_rule(random_runs):
    for lottery, result in random_runs:
        assert violations(lottery, result) == []
        assert result.assignments, "the generator should leave room for some assignments"


def test_random_inputs_rules_checked_directly(random_runs):
    """The same rules again without check.py, so one bug cannot hide in both."""
    for lottery, result in random_runs:
        students = {s.id: s for s in lottery.students}
        sections = {s.id: s for s in lottery.sections}
        per_section = Counter(a.section_id for a in result.assignments)
        assert all(n <= sections[i].capacity for i, n in per_section.items())
        slots = defaultdict(list)
        classes = defaultdict(list)
        for a in result.assignments:
            student, section = students[a.student_id], sections[a.section_id]
            assert section.class_id in student.starred
            assert student.grade is not None
            assert section.grade_min <= student.grade <= section.grade_max
            slots[student.id].extend(section.timeslot_ids)
            classes[student.id].append(section.class_id)
        for sid, taken in slots.items():
            assert len(taken) == len(set(taken))
            assert len(classes[sid]) == len(set(classes[sid]))
            student = students[sid]
            if student.max_sections is not None:
                assert len(classes[sid]) <= student.max_sections
            if student.max_timeslots is not None:
                assert len(taken) <= student.max_timeslots
        if lottery.student_capacity is not None:
            assert len(slots) <= lottery.student_capacity


def test_program_capacity_binds(random_runs):
    lottery, result = random_runs[-1]
    assert len({a.student_id for a in result.assignments}) == lottery.student_capacity


def test_same_seed_same_result_and_other_seeds_differ():
    lottery = generate(200, 40, 5, seed=3)
    first = greedy_fill(lottery)
    assert first.assignments == greedy_fill(lottery).assignments
    others = {frozenset(pairs(greedy_fill(replace(lottery, seed=s)))) for s in range(1, 6)}
    others.add(frozenset(pairs(first)))
    assert len(others) > 1


def test_solver_report():
    result = greedy_fill(generate(50, 10, 3, seed=0))
    assert result.solver.method is Method.GREEDY
    assert result.solver.optimal is False
    assert result.solver.gap is None
    assert 0 <= result.solver.seconds < 5


def test_stars_expand_to_every_section_of_the_class():
    """One star on class 1: the student may land in any of its sections, whichever has room."""
    sections = (sec(1, 1, [1], capacity=1), sec(2, 1, [2], capacity=1), sec(3, 1, [3], capacity=1))
    students = tuple(Student(i, 9, stars=frozenset({1})) for i in range(1, 4))
    result = greedy_fill(LotteryInput(sections, students))
    assert violations(LotteryInput(sections, students), result) == []
    assert sorted(a.section_id for a in result.assignments) == [1, 2, 3]
    assert len({a.student_id for a in result.assignments}) == 3


def test_only_starred_classes_and_grade_ranges():
    sections = (sec(1, 1, [1], grades=(7, 8)), sec(2, 2, [2]), sec(3, 3, [3]))
    students = (
        Student(1, 12, stars=frozenset({1, 2})),  # too old for class 1
        Student(2, 7, stars=frozenset({1})),
        Student(3, None, stars=frozenset({2})),  # no grade: nothing admits
    )
    result = greedy_fill(LotteryInput(sections, students))
    assert pairs(result) == {(1, 2), (2, 1)}


def test_a_two_timeslot_section_occupies_both():
    sections = (sec(1, 1, [1, 2]), sec(2, 2, [2]), sec(3, 3, [3]))
    students = (Student(1, 9, stars=frozenset({1, 2, 3})),)
    result = greedy_fill(LotteryInput(sections, students))
    # Longest first: the double section is filled before the one it overlaps.
    assert pairs(result) == {(1, 1), (1, 3)}


def test_caps_hold():
    sections = tuple(sec(i, i, [i]) for i in range(1, 5))
    everything = frozenset(range(1, 5))
    students = (
        Student(1, 9, stars=everything, max_sections=2),
        Student(2, 9, stars=everything, max_timeslots=3),
        Student(3, 9, stars=everything),
    )
    lottery = LotteryInput(sections, students, student_capacity=2)
    result = greedy_fill(lottery)
    assert violations(lottery, result) == []
    counts = Counter(a.student_id for a in result.assignments)
    assert len(counts) == 2
    assert counts[1] <= 2 and counts[2] <= 3


def test_priorities_beat_stars_and_rank_one_beats_rank_two():
    """One seat in class 1 at timeslot 1. A rank-1 priority takes it before a rank-2 priority,
    which would take it before a mere star, whatever the draw. (Student 2's rank 1, class 2, is
    outside their grade range, so it leaves timeslot 1 free.)"""
    sections = (sec(1, 1, [1], capacity=1), sec(2, 2, [1], capacity=5, grades=(11, 12)))
    star = Student(1, 9, stars=frozenset({1}))
    rank_two = Student(2, 9, priorities={1: (2, 1)})
    rank_one = Student(3, 9, priorities={1: (1,)})
    for seed in range(10):
        result = greedy_fill(LotteryInput(sections, (star, rank_two, rank_one), seed=seed))
        assert pairs(result) == {(3, 1)}
        result = greedy_fill(LotteryInput(sections, (star, rank_two), seed=seed))
        assert pairs(result) == {(2, 1)}


def test_a_priority_is_met_only_at_its_timeslot():
    """The rank-1 pass for (timeslot 2, class 1) places the student in the section starting at
    2, not the one at 1, even though both have room."""
    sections = (sec(1, 1, [1]), sec(2, 1, [2]))
    students = (Student(1, 9, priorities={2: (1,)}),)
    assert pairs(greedy_fill(LotteryInput(sections, students))) == {(1, 2)}


def test_winners_give_way():
    """Two students, two one-seat sections of different classes both starred by both: the
    weight cut after a win makes a second win for the first winner less likely, never
    impossible; across seeds each student wins some."""
    sections = (sec(1, 1, [1], capacity=1), sec(2, 2, [2], capacity=1))
    both = frozenset({1, 2})
    students = (Student(1, 9, stars=both), Student(2, 9, stars=both))
    split = 0
    for seed in range(40):
        result = greedy_fill(LotteryInput(sections, students, seed=seed))
        assert len(result.assignments) == 2
        split += len({a.student_id for a in result.assignments}) == 2
    assert 0 < split < 40


def test_check_reports_broken_results():
    sections = (sec(1, 1, [1, 2], capacity=1, grades=(9, 10)), sec(2, 1, [2]), sec(3, 2, [3]))
    students = (
        Student(1, 12, stars=frozenset({1}), max_sections=1, max_timeslots=2),
        Student(2, 9, stars=frozenset({1})),
    )
    bad = LotteryResult(
        assignments=(
            Assignment(1, 1),  # grade 12 outside 9-10
            Assignment(1, 2),  # second section of class 1, clashes at 2, over both caps
            Assignment(1, 3),  # class 2 not starred
            Assignment(2, 1),  # over capacity
            Assignment(3, 1),  # unknown student
        ),
        solver=SolverReport(Method.GREEDY, optimal=False, gap=None, seconds=0.0),
    )
    found = "\n".join(violations(LotteryInput(sections, students, student_capacity=1), bad))
    for expected in (
        "grade 12",
        "second section of class 1",
        "already taken",
        "not starred",
        "over capacity 1",
        "unknown student",
        "sections over cap",
        "timeslots over cap",
        "program: 2 students",
    ):
        assert expected in found


@pytest.mark.parametrize("seed", [1, 2])
def test_top_up_only_adds_what_the_rules_allow(seed):
    """Half of a greedy result taken away: the top-up keeps the rest, fills free seats again,
    and breaks no rule."""
    lottery = generate(300, 40, 6, seed)
    full = greedy_fill(lottery)
    kept = full.assignments[::2]
    topped = top_up(lottery, kept)
    assert set(kept) <= set(topped)
    assert len(topped) > len(kept)
    report = SolverReport(Method.OPTIMISER, False, None, 0.0)
    assert violations(lottery, LotteryResult(topped, report)) == []
    assert top_up(lottery, topped) == topped  # nothing left to fill


@pytest.mark.parametrize("seed", range(6))
def test_a_free_seat_goes_to_a_student_who_ranked_its_class_before_one_who_starred_it(seed):
    """The top-up runs the greedy fill's passes from the solver's result: rank by rank, then
    stars. Student 1 holds their first choice at timeslot 1 and ranked class 3 second at
    timeslot 2; students 2-5 only starred class 3, whose one section has one seat."""
    sections = (sec(1, 1, [1], capacity=1), sec(2, 2, [2], capacity=1), sec(3, 3, [2], capacity=1))
    ranked = Student(1, 9, priorities={1: (1,), 2: (2, 3)})
    starring = tuple(Student(i, 9, stars=frozenset({3})) for i in range(2, 6))
    taken = Student(6, 9, priorities={2: (2,)})
    lottery = LotteryInput(sections, (ranked, *starring, taken), seed=seed)
    solved = (Assignment(1, 1), Assignment(6, 2))  # class 2 went to student 6
    assert set(top_up(lottery, solved)) == {*solved, Assignment(1, 3)}


def test_the_greedy_fill_keeps_the_schedule_constraints():
    """A lunch rule over generated programs: every result keeps it (nothing for the repair), a
    student with classes on both sides holds a lunch section, and lunch is given to nobody who
    does not need it."""
    from lottery_service.domain.schedule_rules import ScheduleRule, repair

    base = generate(300, 60, 6, seed=5)
    slots = sorted({t for s in base.sections for t in s.timeslot_ids})
    lunch_slot = slots[len(slots) // 2]
    before, after = slots[: len(slots) // 2], slots[len(slots) // 2 + 1 :]
    lunch = sec(9_001, 9_000, [lunch_slot], capacity=40)
    rule = ScheduleRule(
        1,
        "Take a lunch period",
        {
            "all": [
                {"any": [{"occupied": t} for t in before]},
                {"any": [{"occupied": t} for t in after]},
            ]
        },
        {"in_sections": [lunch.id]},
    )
    unruled = LotteryInput((*base.sections, lunch), base.students, seed=5)
    lottery = LotteryInput((*base.sections, lunch), base.students, rules=(rule,), seed=5)
    assert violations(lottery, greedy_fill(unruled))  # the ESP fill breaks it
    result = greedy_fill(lottery)
    assert violations(lottery, result) == []
    assert repair(lottery, result)[1] == []
    sections = {s.id: s for s in lottery.sections}
    held: dict[int, list[Section]] = {}
    for a in result.assignments:
        held.setdefault(a.student_id, []).append(sections[a.section_id])
    lunches = [sid for sid, mine in held.items() if lunch in mine]
    assert 0 < len(lunches) <= lunch.capacity
    for student_id in lunches:
        assert rule.broken_by([s for s in held[student_id] if s is not lunch]), student_id
