"""The integer-program lottery: known optima, every rule, seeds, time limits and LP bounds."""

from __future__ import annotations

import itertools
import math
import random

import pytest
from lottery_service.domain.check import violations
from lottery_service.domain.greedy import greedy_fill
from lottery_service.domain.model import (
    Assignment,
    LotteryInput,
    LotteryResult,
    Method,
    Section,
    SolverReport,
    Student,
    eligible_sections,
)
from lottery_service.domain.optimizer import SEAT_SLACK, lp_bounds, optimise
from lottery_testkit import generate, with_lunch


def sec(id, class_id, *slots, capacity=1, grades=(7, 12)):
    return Section(id, class_id, capacity, tuple(slots), grades[0], grades[1])


def placed(result: LotteryResult) -> set[tuple[int, int]]:
    return {(a.student_id, a.section_id) for a in result.assignments}


def score(lottery: LotteryInput, pairs: set[tuple[int, int]]) -> tuple[int, ...]:
    """(rank 1 met, students placed, seats, rank 2 met, rank 3 met, students with a first choice
    met), computed independently: the optimiser's order for a program of under 200 seats, where
    no seat may be traded for a rank; the last is its tie-break among assignments equal on the
    others."""
    sections = {s.id: s for s in lottery.sections}
    met = [0, 0, 0]
    even = 0
    for student in lottery.students:
        starts = {
            (sections[q].first_timeslot, sections[q].class_id) for p, q in pairs if p == student.id
        }
        firsts = 0
        for t, classes in student.priorities.items():
            for rank, c in enumerate(classes[:3]):
                met[rank] += (t, c) in starts
            firsts += (t, classes[0]) in starts if classes else 0
        even += firsts > 0
    students = len({p for p, _ in pairs})
    return (met[0], students, len(pairs), met[1], met[2], even)


def random_lottery(rng: random.Random, n_students: int, n_sections: int, n_slots: int, **kw):
    n_classes = max(1, n_sections * 2 // 3)
    sections = []
    for i in range(n_sections):
        start = rng.randrange(n_slots)
        span = 2 if start < n_slots - 1 and rng.random() < 0.2 else 1
        lo = rng.choice((7, 8, 9))
        sections.append(
            Section(
                100 + i,
                i % n_classes,
                rng.randint(0, 3),
                tuple(range(start, start + span)),
                lo,
                rng.choice((lo + 1, 12)),
            )
        )
    students = []
    for s in range(n_students):
        priorities = {}
        for t in range(n_slots):
            if rng.random() < 0.5:
                priorities[t] = tuple(rng.sample(range(n_classes), min(3, n_classes)))
        students.append(
            Student(
                s,
                rng.choice((None, 7, 9, 10, 12)) if rng.random() < 0.1 else rng.randint(7, 12),
                frozenset(rng.sample(range(n_classes), min(2, n_classes))),
                priorities,
                rng.choice((None, None, 1, 2)),
                rng.choice((None, None, 1, 2)),
            )
        )
    return LotteryInput(tuple(sections), tuple(students), **kw)


def test_a_first_choice_beats_a_seat_elsewhere():
    # Student 1's first choice (class 10) spans timeslots 1-2; classes 20 and 30 fill them both.
    lottery = LotteryInput(
        sections=(sec(1, 10, 1, 2), sec(2, 20, 1), sec(3, 30, 2)),
        students=(Student(1, 9, frozenset({20, 30}), {1: (10,)}),),
    )
    result = optimise(lottery)
    assert placed(result) == {(1, 1)}
    assert result.solver.method is Method.OPTIMISER and result.solver.optimal
    assert result.solver.gap is None


def test_a_first_choice_beats_giving_everyone_a_class():
    # Student 2 wants only class 10; student 1 ranks it first but could take class 20 instead.
    lottery = LotteryInput(
        sections=(sec(1, 10, 1), sec(2, 20, 1)),
        students=(Student(1, 9, frozenset({20}), {1: (10,)}), Student(2, 9, frozenset({10}))),
    )
    assert placed(optimise(lottery)) == {(1, 1)}


def test_giving_everyone_a_class_beats_a_second_choice():
    # As above, but class 10 is student 1's second choice (the first has no section).
    lottery = LotteryInput(
        sections=(sec(1, 10, 1), sec(2, 20, 1)),
        students=(Student(1, 9, frozenset({20}), {1: (99, 10)}), Student(2, 9, frozenset({10}))),
    )
    assert placed(optimise(lottery)) == {(1, 2), (2, 1)}


def test_a_second_choice_beats_a_third():
    # Rank 2 (class 20 at 1) against rank 3 (class 30 at 1); class 40 spans 2-3 is one more seat
    # only if student 1 skips class 50 at 2 (rank 3 at 2).
    lottery = LotteryInput(
        sections=(sec(1, 20, 1), sec(2, 30, 1), sec(3, 50, 2), sec(4, 40, 2, 3)),
        students=(
            Student(1, 9, frozenset({40}), {1: (99, 20, 30), 2: (98, 97, 50)}),
            Student(2, 9, frozenset({30})),
        ),
    )
    # Student 1 takes 20 (rank 2) and 50 (rank 3); student 2 takes 30.
    assert placed(optimise(lottery)) == {(1, 1), (1, 3), (2, 2)}


@pytest.mark.parametrize("seed", range(8))
def test_a_first_choice_goes_to_a_student_without_one_before_one_who_has_one(seed):
    # Both rank Y (timeslot 2) first; A also has X (timeslot 1), a first choice, while B's other
    # class Z (timeslot 1) is only starred. Either way two first choices, two students, three
    # seats: the more even assignment gives Y to B, whatever the seed.
    lottery = LotteryInput(
        sections=(sec(1, 10, 1), sec(2, 20, 2), sec(3, 30, 1)),
        students=(
            Student(1, 9, frozenset({10, 20}), {1: (10,), 2: (20,)}),
            Student(2, 9, frozenset({20, 30}), {2: (20,)}),
        ),
        seed=seed,
    )
    assert placed(optimise(lottery)) == {(1, 1), (2, 2), (2, 3)}


def test_a_seat_beats_a_second_choice_in_a_small_program():
    # Class 10 (spanning 1-2) is student 1's second choice; classes 20 and 30 fill both timeslots.
    lottery = LotteryInput(
        sections=(sec(1, 10, 1, 2), sec(2, 20, 1), sec(3, 30, 2)),
        students=(Student(1, 9, frozenset({20, 30}), {1: (99, 10)}),),
    )
    assert placed(optimise(lottery)) == {(1, 2), (1, 3)}


def test_at_most_half_a_percent_of_the_seats_is_traded_for_second_choices():
    # 200 students as above, every section big enough: 400 seats at most, each second choice
    # costs a seat, and 0.5 % of 400 is 2.
    lottery = LotteryInput(
        sections=(
            sec(1, 10, 1, 2, capacity=200),
            sec(2, 20, 1, capacity=200),
            sec(3, 30, 2, capacity=200),
        ),
        students=tuple(Student(i, 9, frozenset({20, 30}), {1: (99, 10)}) for i in range(200)),
    )
    result = optimise(lottery)
    assert result.solver.optimal
    traded = int(SEAT_SLACK * 400)
    assert sum(a.section_id == 1 for a in result.assignments) == traded == 2
    assert len(result.assignments) == 400 - traded


def test_seats_are_filled_when_nothing_else_differs():
    lottery = LotteryInput(
        sections=(sec(1, 10, 1, capacity=2), sec(2, 20, 2, capacity=2)),
        students=tuple(Student(i, 9, frozenset({10, 20})) for i in range(3)),
    )
    result = optimise(lottery)
    assert len(result.assignments) == 4
    assert violations(lottery, result) == []


def test_caps_and_program_capacity_are_obeyed():
    lottery = LotteryInput(
        sections=(
            sec(1, 10, 1, capacity=5),
            sec(2, 20, 2, 3, capacity=5),
            sec(3, 30, 4, capacity=5),
        ),
        students=(
            Student(1, 9, frozenset({10, 20, 30}), max_sections=2),
            Student(2, 9, frozenset({10, 20, 30}), max_timeslots=2),
            Student(3, 9, frozenset({10, 20, 30})),
            Student(4, None, frozenset({10})),  # no grade: nothing is eligible
        ),
        student_capacity=2,
    )
    result = optimise(lottery)
    assert violations(lottery, result) == []
    assert len({a.student_id for a in result.assignments}) == 2
    assert all(a.student_id != 4 for a in result.assignments)


@pytest.mark.parametrize("seed", range(25))
def test_tiny_random_lotteries_reach_the_brute_force_optimum(seed):
    rng = random.Random(seed)
    lottery = random_lottery(rng, 3, 4, 3, student_capacity=rng.choice((None, 1, 2)), seed=seed)
    pairs = [(s.id, q.id) for s in lottery.students for q in eligible_sections(lottery, s)]
    assert len(pairs) <= 12
    report = SolverReport(Method.OPTIMISER, True, None, 0.0)
    best = max(
        score(lottery, set(chosen))
        for n in range(len(pairs) + 1)
        for chosen in itertools.combinations(pairs, n)
        if not violations(lottery, LotteryResult(tuple(Assignment(*p) for p in chosen), report))
    )
    result = optimise(lottery)
    assert violations(lottery, result) == []
    assert result.solver.optimal
    assert score(lottery, placed(result)) == best


@pytest.mark.parametrize("seed", range(3))
def test_random_lotteries_obey_every_rule_and_stay_under_the_lp_bounds(seed):
    lottery = random_lottery(random.Random(seed), 60, 25, 5, student_capacity=50, seed=seed)
    result = optimise(lottery)
    assert result.solver.method is Method.OPTIMISER and result.solver.optimal
    assert violations(lottery, result) == []
    bounds = lp_bounds(lottery, result)
    first, students, seats, _, _, _ = score(lottery, placed(result))
    assert bounds["first_choices_met"] >= first - 1e-6
    assert bounds["students_with_classes"] >= students - 1e-6
    assert bounds["seats_filled"] >= bounds["seats_filled_keeping"] - 1e-6
    assert bounds["seats_filled_keeping"] >= seats - 1e-6
    assert seats > 0


@pytest.mark.parametrize("seed", range(3))
def test_the_lp_bounds_hold_for_the_greedy_fill_too(seed):
    lottery = generate(150, 30, 5, seed=seed, student_capacity=120 if seed else None)
    result = greedy_fill(lottery)
    bounds = lp_bounds(lottery, result)
    first, students, seats, _, _, _ = score(lottery, placed(result))
    assert bounds["first_choices_met"] >= first - 1e-6
    assert bounds["students_with_classes"] >= students - 1e-6
    assert bounds["seats_filled_keeping"] >= seats - 1e-6
    assert bounds["seats_filled"] >= seats - 1e-6


def test_the_lp_bounds_are_exact_on_a_tiny_program():
    # Student 1's first choice (class 10) spans timeslots 1-2; classes 20 and 30 fill them both:
    # one first choice at most, two seats at most, but only one seat keeping the first choice.
    lottery = LotteryInput(
        sections=(sec(1, 10, 1, 2), sec(2, 20, 1), sec(3, 30, 2)),
        students=(Student(1, 9, frozenset({20, 30}), {1: (10,)}),),
    )
    result = optimise(lottery)
    assert placed(result) == {(1, 1)}
    assert lp_bounds(lottery) == pytest.approx(
        {"first_choices_met": 1.0, "seats_filled": 2.0}, abs=1e-3
    )
    assert lp_bounds(lottery, result) == pytest.approx(
        {
            "first_choices_met": 1.0,
            "seats_filled": 2.0,
            "students_with_classes": 1.0,
            "seats_filled_keeping": 1.0,
        },
        abs=1e-3,
    )


def test_the_same_seed_gives_the_same_result():
    lottery = random_lottery(random.Random(7), 60, 25, 5, seed=3)
    assert optimise(lottery).assignments == optimise(lottery).assignments


def test_ties_are_broken_by_the_seed_not_the_student_id():
    # Two students want the only seat; nothing else tells them apart.
    winners = set()
    for seed in range(12):
        lottery = LotteryInput(
            sections=(sec(1, 10, 1),),
            students=(Student(1, 9, frozenset({10})), Student(2, 9, frozenset({10}))),
            seed=seed,
        )
        (only,) = optimise(lottery).assignments
        winners.add(only.student_id)
    assert winners == {1, 2}


def test_a_tiny_time_limit_is_reported_honestly():
    lottery = random_lottery(random.Random(1), 400, 80, 6, seed=1)
    result = optimise(lottery, time_limit=0.001)  # less than building the model takes
    assert (result.solver.method, result.solver.optimal, result.solver.gap) == (
        Method.GREEDY,
        False,
        None,
    )
    assert result.assignments
    assert violations(lottery, result) == []


def test_an_empty_lottery():
    result = optimise(LotteryInput(sections=(), students=()))
    assert result.assignments == ()
    assert result.solver.optimal
    assert lp_bounds(LotteryInput(sections=(), students=())) == {
        "first_choices_met": 0.0,
        "seats_filled": 0.0,
    }
    assert lp_bounds(LotteryInput(sections=(), students=()), result)["seats_filled_keeping"] == 0


def test_a_generated_program_is_near_its_lp_bounds_within_the_time_limit():
    lottery = generate(400, 60, 6, seed=5)
    result = optimise(lottery, time_limit=5.0)
    assert result.solver.method is Method.OPTIMISER
    assert result.solver.seconds < 6.0
    assert violations(lottery, result) == []
    assert result.solver.optimal or result.solver.gap is not None
    bounds = lp_bounds(lottery, result)
    first, students, seats, _, _, _ = score(lottery, placed(result))
    assert bounds["first_choices_met"] * 0.995 <= first <= bounds["first_choices_met"] + 1e-6
    assert students == math.floor(bounds["students_with_classes"] + 1e-6)
    kept = bounds["seats_filled_keeping"]
    assert 0.99 * kept <= seats <= kept + 1e-6 <= bounds["seats_filled"] + 2e-6


@pytest.mark.parametrize("lunch", [False, True], ids=["no rules", "lunch"])
@pytest.mark.parametrize("seed", range(2))
def test_stages_solved_in_blocks_keep_every_rule_and_the_higher_objectives(seed, lunch):
    """The decomposition a 10,000-student program takes, forced on a small one: blocks of 60
    students, the rest fixed. First choices are solved whole, so they are the same; students
    placed too (with a lunch rule the students stage runs in blocks as well: its LP alone took
    half of a 10 s limit at 3,000 students); the seats come close to the whole solve's."""
    lottery = generate(300, 45, 6, seed)
    if lunch:
        lottery = with_lunch(lottery, 6)
    whole = optimise(lottery, blocks_above=10**9)
    blocks = optimise(lottery, blocks_above=0, block_students=60)
    assert violations(lottery, blocks) == []
    (w_first, w_students, w_seats, *_), (b_first, b_students, b_seats, *_) = (
        score(lottery, placed(result)) for result in (whole, blocks)
    )
    assert (b_first, b_students) == (w_first, w_students)
    assert b_seats >= 0.97 * w_seats
    assert not blocks.solver.optimal  # no bound for a stage solved in blocks


@pytest.mark.parametrize("seed", range(3))
def test_a_block_cut_from_the_rows_is_the_whole_program_with_the_others_fixed(seed):
    """A block's own program (its columns, each row less what the fixed columns put in it) has
    the same integer optimum as the whole program with every other column fixed by bounds."""
    import highspy
    import numpy as np
    from lottery_service.domain.optimizer import _as_columns, _block, _build, _highs, _RowArrays

    lottery = with_lunch(generate(120, 20, 6, seed), 6)
    model = _build(lottery, random.Random(lottery.seed))
    best = _as_columns(model, greedy_fill(lottery))
    rows = _RowArrays.of(model.rows)
    n, rng = model.n_cols, random.Random(seed)
    for _ in range(3):
        chosen = set(rng.sample(range(model.n_y), 30))
        inside = np.array([owner in chosen for owner in model.owner])
        whole = _highs(model, integer=True)
        whole.changeColsBounds(
            n,
            np.arange(n, dtype=np.int32),
            np.where(inside, 0.0, best),
            np.where(inside, 1.0, best),
        )
        whole.changeColsCost(n, np.arange(n, dtype=np.int32), model.seats)
        whole.run()
        block, cols = _block(rows, inside, best)
        k = len(cols)
        block.changeColsCost(k, np.arange(k, dtype=np.int32), model.seats[cols])
        block.changeColsIntegrality(
            k,
            np.arange(k, dtype=np.int32),
            np.full(k, highspy.HighsVarType.kInteger.value, np.uint8),
        )
        block.run()
        outside = float(model.seats[~inside] @ best[~inside])
        assert block.getInfo().objective_function_value + outside == pytest.approx(
            whole.getInfo().objective_function_value
        )
        assert block.getInfo().objective_function_value >= float(model.seats[cols] @ best[cols])


@pytest.mark.parametrize("seed", range(3))
def test_the_last_stage_in_blocks_takes_passes_while_they_gain(seed):
    """One pass of tiny blocks leaves seats that a second partition finds; ``repeat`` takes
    passes until one gains nothing, well inside the time given, and every row still holds."""
    import time

    import numpy as np
    from lottery_service.domain.optimizer import _as_columns, _build, _in_blocks, _RowArrays

    lottery = with_lunch(generate(200, 30, 5, seed), 5)
    model = _build(lottery, random.Random(lottery.seed))
    rows = _RowArrays.of(model.rows)
    start = _as_columns(model, greedy_fill(lottery))
    blocks = {"seconds": 30.0, "size": 6, "shift": 0, "abs_gap": 0.49, "seed": 1}
    once = _in_blocks(model, rows, model.seats, start, **blocks)
    began = time.monotonic()
    again = _in_blocks(model, rows, model.seats, start, **blocks, repeat=True)
    assert time.monotonic() - began < blocks["seconds"]  # ends by itself, not by the limit
    assert model.seats @ again > model.seats @ once > model.seats @ start
    activity = np.bincount(rows.row_of, rows.values * again[rows.indices], len(rows.lower))
    assert (activity >= rows.lower - 1e-6).all() and (activity <= rows.upper + 1e-6).all()


def test_a_program_without_ranked_choices_is_solved_in_blocks_too():
    """Without priorities the stages are "students with a class" and "seats" (no "seats_kept"):
    the seats stage is still the one the blocks take over."""
    from dataclasses import replace

    ranked = generate(200, 30, 5, 3)
    lottery = replace(
        ranked,
        students=tuple(replace(s, stars=s.starred, priorities={}) for s in ranked.students),
    )
    whole = optimise(lottery)
    blocks = optimise(lottery, blocks_above=0, block_students=50)
    assert violations(lottery, blocks) == []
    assert not blocks.solver.optimal  # the seats stage ran in blocks (no bound for it)
    students = [len({a.student_id for a in r.assignments}) for r in (whole, blocks)]
    assert students[0] == students[1]
    assert len(blocks.assignments) >= 0.97 * len(whole.assignments)


def _rows_hold(rows, solution) -> bool:
    import numpy as np

    activity = np.bincount(rows.row_of, rows.values * solution[rows.indices], len(rows.lower))
    return bool((activity >= rows.lower - 1e-6).all() and (activity <= rows.upper + 1e-6).all())


@pytest.mark.parametrize("seed", range(3))
def test_a_stage_left_no_time_for_its_integer_program_rounds_its_lp(seed):
    """The seats stage's LP, rounded (its whole columns, then its fractional ones where they
    fit, then the first choices the earlier stage reached made up from the incumbent), keeps
    every row, every rule and the first choices, and fills more seats than the incumbent it
    would otherwise have kept; with some of the LP's first choices made fractional too."""
    import highspy
    import numpy as np
    from lottery_service.domain.optimizer import _build, _highs, _round, _rounded_down, _RowArrays

    lottery = generate(300, 40, 6, seed)
    model = _build(lottery, random.Random(lottery.seed))
    rows = _RowArrays.of(model.rows)
    n = model.n_cols
    exact = _highs(model, integer=True)
    exact.changeColsCost(n, np.arange(n, dtype=np.int32), model.first_choices)
    exact.run()
    first = np.round(np.array(exact.getSolution().col_value))
    first[: len(model.pairs)] *= model.first_choices[: len(model.pairs)] > 0  # only those
    reached = float(model.first_choices @ first)
    nz = np.flatnonzero(model.first_choices).astype(np.int32)
    rows = rows.with_row(nz, model.first_choices[nz], reached, math.inf)
    lp = _highs(model, integer=False)
    lp.addRow(reached, math.inf, len(nz), nz, model.first_choices[nz])
    lp.changeColsCost(n, np.arange(n, dtype=np.int32), model.seats)
    lp.run()
    assert lp.getModelStatus() == highspy.HighsModelStatus.kOptimal
    relaxed = np.array(lp.getSolution().col_value)
    at_one = np.flatnonzero((relaxed[nz] > 0.999) & (first[nz] > 0.5))
    blurred = relaxed.copy()
    blurred[nz[at_one[:5]]] = 0.5  # as if the LP had left these first choices fractional
    # The seats alone, first choices forgotten: they are made up by displacing others.
    seats_only = _highs(model, integer=False)
    seats_only.changeColsCost(n, np.arange(n, dtype=np.int32), model.seats)
    seats_only.run()
    forgot = np.array(seats_only.getSolution().col_value)
    forgotten = reached - model.first_choices @ np.floor(forgot + 1e-6)
    assert forgotten > 100
    # Most are made up, each displacing what blocked it; not all, and then nothing is used.
    made_up = _round(model, rows, forgot, first)
    assert made_up.activity[-1] >= reached - 0.1 * forgotten
    if not made_up.keeps_every_row():
        assert _rounded_down(model, rows, forgot, model.seats, first) is first
    for lp_solution in (relaxed, blurred):
        rounded = _rounded_down(model, rows, lp_solution, model.seats, first)
        assert _rows_hold(rows, rounded)
        assert set(np.unique(rounded)) <= {0.0, 1.0}
        assert model.first_choices @ rounded >= reached
        assert model.seats @ rounded > model.seats @ first
        chosen = tuple(
            Assignment(*pair) for pair, x in zip(model.pairs, rounded, strict=False) if x > 0.5
        )
        report = SolverReport(Method.OPTIMISER, False, None, 0.0)
        assert violations(lottery, LotteryResult(chosen, report)) == []


def test_a_rounding_that_does_not_beat_the_incumbent_keeps_it():
    import numpy as np
    from lottery_service.domain.optimizer import _as_columns, _build, _rounded_down, _RowArrays

    lottery = generate(120, 20, 5, 0)
    model = _build(lottery, random.Random(lottery.seed))
    rows = _RowArrays.of(model.rows)
    best = _as_columns(model, greedy_fill(lottery))
    assert _rounded_down(model, rows, np.zeros(model.n_cols), model.seats, best) is best
