"""The run's stats: the contract's keys, counts that agree with each other and with the
assignments, and a reason for every starred class a student did not get."""

import math

import pytest
from lottery_service.domain.greedy import greedy_fill
from lottery_service.domain.model import (
    Assignment,
    LotteryInput,
    LotteryResult,
    Method,
    Section,
    SolverReport,
    Student,
)
from lottery_service.domain.stats import REASONS, lottery_stats, unplaced_reasons
from lottery_testkit import generate

REPORT = SolverReport(Method.OPTIMISER, optimal=True, gap=0.0, seconds=0.25)


def sec(id, class_id, slots, capacity=10, grades=(7, 12)):
    return Section(id, class_id, capacity, tuple(slots), grades[0], grades[1])


def result_of(*pairs):
    return LotteryResult(tuple(Assignment(s, x) for s, x in pairs), REPORT)


@pytest.fixture(scope="module")
def runs():
    out = []
    for seed, capacity in ((0, None), (1, None), (2, 150)):
        lottery = generate(400, 70, 6, seed=seed, student_capacity=capacity)
        out.append((lottery, greedy_fill(lottery)))
    return out


def test_keys_present_and_consistent(runs):
    for lottery, result in runs:
        stats = lottery_stats(lottery, result)
        for key in (
            "students",
            "students_with_classes",
            "empty_schedules",
            "students_without_options",
            "enrollments",
            "seats",
            "seats_filled",
            "sections_full",
            "priority",
            "stars",
            "timeslots_filled_histogram",
            "overall_utility",
            "least_served",
            "unplaced",
            "solver",
        ):
            assert key in stats
        n = len(lottery.students)
        assert stats["students"] == n
        assert (
            stats["students_with_classes"]
            + stats["empty_schedules"]
            + stats["students_without_options"]
            == n
        )
        assert stats["students_with_classes"] == len({a.student_id for a in result.assignments})
        assert stats["enrollments"] == len(result.assignments) == stats["seats_filled"]
        assert stats["seats"] == sum(s.capacity for s in lottery.sections)
        assert 0 <= stats["sections_full"] <= len(lottery.sections)
        assert set(stats["priority"]) == {"1", "2", "3"}
        for level in stats["priority"].values():
            assert 0 <= level["met"] <= level["requested"]
            assert level["percent"] == round(100 * level["met"] / level["requested"], 1)
        assert stats["stars"]["met"] == stats["enrollments"]  # every assignment is a star met
        assert stats["stars"]["met"] <= stats["stars"]["requested"]
        histogram = stats["timeslots_filled_histogram"]
        assert sum(histogram.values()) == n
        assert histogram["0"] == n - stats["students_with_classes"]
        assert stats["overall_utility"] > 0
        least = stats["least_served"]
        assert len(least) == 10
        assert [x["score"] for x in least] == sorted(x["score"] for x in least)
        assert stats["solver"] == {
            "method": "greedy",
            "optimal": False,
            "gap": None,
            "seconds": result.solver.seconds,
        }


def test_every_unplaced_request_has_a_reason(runs):
    for lottery, result in runs:
        reasons = unplaced_reasons(lottery, result)
        got = {(a.student_id, a.section_id) for a in result.assignments}
        class_of = {s.id: s.class_id for s in lottery.sections}
        got_classes = {(sid, class_of[x]) for sid, x in got}
        wanted = {(s.id, c) for s in lottery.students for c in s.starred}
        assert set(reasons) == wanted - got_classes
        assert set(reasons.values()) <= set(REASONS) - {"available"}  # the greedy is maximal
        stats = lottery_stats(lottery, result)
        assert sum(stats["unplaced"].values()) == len(reasons)
        assert stats["unplaced"]["full"] > 0
        assert stats["unplaced"]["grade"] > 0
        # star requests exclude the grade-blocked classes
        requested = stats["stars"]["requested"]
        assert requested == len(wanted) - stats["unplaced"]["grade"]
    assert any("cap" in unplaced_reasons(*run).values() for run in runs)


def test_reasons_by_hand():
    sections = (
        sec(1, 1, [1], capacity=1),  # class 1: full
        sec(2, 2, [1, 2]),  # class 2: clashes with class 1's section
        sec(3, 3, [3], grades=(11, 12)),  # class 3: grade
        sec(4, 4, [4]),  # class 4: free, but student 1's max_sections stops it
        sec(5, 5, [5]),  # class 5: free and left empty
    )
    students = (
        Student(1, 9, stars=frozenset({1, 2, 3, 4}), max_sections=1),
        Student(2, 9, stars=frozenset({1, 5})),
        Student(3, 9, stars=frozenset({5})),
    )
    lottery = LotteryInput(sections, students, student_capacity=2)
    result = result_of((1, 1), (3, 5))
    assert unplaced_reasons(lottery, result) == {
        (1, 2): "time",
        (1, 3): "grade",
        (1, 4): "cap",
        (2, 1): "full",
        (2, 5): "cap",  # the program holds 2 students already
    }
    looser = LotteryInput(sections, students)
    assert unplaced_reasons(looser, result)[(2, 5)] == "available"


def test_priority_stars_utility_and_solver_by_hand():
    sections = (sec(1, 1, [1, 2]), sec(2, 2, [1]), sec(3, 3, [3]), sec(4, 1, [3]))
    students = (
        # rank 1 at timeslot 1: class 1 (met by section 1); rank 2 at 1: class 2 (not met);
        # a star on class 3 (met, interest hours).
        Student(1, 9, stars=frozenset({3}), priorities={1: (1, 2)}),
        # rank 1 at timeslot 3: class 1, met only by a section of class 1 starting at 3.
        Student(2, 9, priorities={3: (1,)}),
        Student(3, 9, stars=frozenset({2})),  # got nothing
        Student(4, None, stars=frozenset({2})),  # no options
    )
    lottery = LotteryInput(sections, students)
    result = result_of((1, 1), (1, 3), (2, 1))
    stats = lottery_stats(lottery, result)
    assert stats["students_with_classes"] == 2
    assert stats["empty_schedules"] == 1
    assert stats["students_without_options"] == 1
    assert stats["priority"] == {
        "1": {"requested": 2, "met": 1, "percent": 50.0},
        "2": {"requested": 1, "met": 0, "percent": 0.0},
    }
    assert stats["stars"] == {"requested": 5, "met": 3}
    assert stats["timeslots_filled_histogram"] == {"0": 2, "1": 0, "2": 1, "3": 1}
    assert stats["sections_full"] == 0
    assert stats["seats"] == 40 and stats["seats_filled"] == 3
    # utility: s1 = 1.5*2 + 1 = 4, weight = timeslots {1,2,3} = 3; s2 = 2 (interest), weight
    # {1,2,3} = 3; s3 = 0, weight {1} = 1; s4 = 0, weight 0.
    expected = (math.sqrt(3) * 2 + math.sqrt(3) * math.sqrt(2)) / (2 * math.sqrt(3) + 1)
    assert stats["overall_utility"] == round(expected, 4)
    assert [x["student_id"] for x in stats["least_served"]] == [3, 2, 4, 1]
    assert stats["least_served"][0]["score"] == 0.5
    assert stats["solver"] == {"method": "optimiser", "optimal": True, "gap": 0.0, "seconds": 0.25}
    assert stats["unplaced"]["time"] == 1  # student 1, class 2: timeslot 1 taken


def test_first_choices_per_student_and_their_gini_by_hand():
    sections = (sec(1, 1, [1]), sec(2, 2, [2]), sec(3, 3, [1]), sec(4, 4, [2]))
    students = (
        Student(1, 9, priorities={1: (1,), 2: (2,)}),  # both first choices met
        Student(2, 9, priorities={1: (3,), 2: (4,)}),  # none met
        Student(3, 9, priorities={1: (1, 3)}),  # its one first choice met
        Student(4, 9, stars=frozenset({4})),  # ranked nothing: not counted
    )
    lottery = LotteryInput(sections, students)
    stats = lottery_stats(lottery, result_of((1, 1), (1, 2), (3, 1), (4, 4)))
    assert stats["first_choices_per_student"] == {"0": 1, "1": 1, "2": 1}
    # Gini of (2, 0, 1): mean |x_i - x_j| over all 9 pairs is 8/9, over twice the mean 1.
    assert stats["first_choices_gini"] == round(4 / 9, 4)


def test_the_gini_of_equal_shares_is_0_and_of_one_taking_all_approaches_1():
    from lottery_service.domain.stats import gini

    assert gini([]) == gini([0, 0]) == gini([3, 3, 3]) == 0.0
    assert gini([0] * 99 + [5]) == pytest.approx(0.99)
