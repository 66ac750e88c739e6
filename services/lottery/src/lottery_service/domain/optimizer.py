"""The lottery as an exact integer program, solved with HiGHS lexicographically.

Variables: ``x[student, section]`` in {0, 1} for every eligible pair (see
:func:`~lottery_service.domain.model.eligible_sections`) and ``y[student]`` in {0, 1}, "has at
least one section" (``y <= sum x``; with a ``student_capacity`` also ``x <= y`` and
``sum y <= capacity``). The rows hold every rule of ``model.py``: section capacity, one section
per (student, class) and per (student, timeslot) counting every timeslot a section spans, the
caps ``max_sections`` and ``max_timeslots`` (timeslots occupied = sum of x times the number of
timeslots the section spans, since no two sections share a timeslot).

Objectives, in lexicographic order, each maximised:

1. rank-1 priorities met;
2. students with at least one section (sum y);
3. seats filled (sum x), of which the later stages may give back at most 0.5 % (rounded down, so
   none in a program of under 200 seats): on generated 3,000-student programs the lower ranks
   would otherwise cost up to 2 % of the seats, and a seat is worth more to a student than a
   better-ranked one;
4. rank-2, rank-3, ... priorities met, one stage per rank;
5. stars met (each (student, starred class) counts once: one section per class);
6. seats filled again, plus random tie-breaks.

Among the assignments that tie on all of these, the more even one is then taken: first choices
are moved to students with none from students who keep another (``evenness.py``).

Since a priority is also a star and only starred classes are eligible, stars met always equal seats
filled, so stages 5 and 6 are solved as one (a stage equal to the next, or counting nothing, is
dropped).

Each stage first solves its LP relaxation (warm-started from the previous stage's basis, without
presolve, which only slows a warm start), which bounds the stage. The integer program is then solved
with every column fixed where the LP solution is integral and agrees with the incumbent (which thus
stays a feasible start): on real inputs the LP is nearly integral, so this leaves a small program
that presolve shrinks to little. If its result does not reach the bound (the floor of the LP value;
for a stage with tie-breaks, within 0.49), the whole integer program is solved from it, but only
with time to spare after a reserve for the later stages (HiGHS may overrun a time limit while
presolving the whole model), and on a full-size program only when the restricted one left the stage
more than 1 % short (see ``_SMALL_MODEL``). A stage left short of its bound makes the result
non-optimal, with the largest relative gap against the bounds reported; the later stages still run.
"objective >= its (integral) value" (for stage 3, less its slack) is added as a row before the next
stage, so a stage the time limit cuts short still keeps what the earlier ones reached. Students are
laid out in an order shuffled by ``random.Random(lottery.seed)`` and both seats stages add tiny
seeded coefficients (each below ``0.5 / (n + 1)`` for ``n`` variables, so they add up to less than
0.5 and cannot trade away a seat), so no student is favoured by id; the same seed and input give the
same result. The first seats stage also breaks its ties by the lower ranks (adding up to less than
0.25 more). A stage followed by a priority or students stage breaks its ties by that stage's
objective instead, scaled the same way: at 3,000 students the time limit may cut the last stages
short, and they then keep an incumbent already good at what they count.

A stage whose LP ends with too little time left for its integer program rounds the LP instead
(:func:`_rounded_down`): nearly integral on real inputs, it beats the incumbent the earlier stage
left by hundreds of seats.
"""

from __future__ import annotations

import math
import random
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import highspy
import numpy as np
import numpy.typing as npt

from lottery_service.domain.evenness import share_first_choices
from lottery_service.domain.greedy import top_up
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
from lottery_service.domain.rule_encoding import Aux, Encoding, encode, evaluate, required_sections
from lottery_service.domain.schedule_rules import without_unneeded

FloatArray = npt.NDArray[np.float64]

# A stage's tie-breaks add up to less than this; such a stage's absolute gap stays below 1 minus
# it, so a solution one short (of seats, of priorities met) can never pass as optimal.
_TIE_BREAK_TOTAL = 0.5
_TIED_ABS_GAP = 0.49
# A blocked last stage adds the ranks' tie-break (under 0.25) to its own (under 0.5).
_RANKED_ABS_GAP = 0.24
# A stage without tie-breaks has an integral objective: a gap under 1 proves optimality.
_INTEGRAL_ABS_GAP = 0.5
# Seconds kept back from a stage's full integer program: a margin, plus per later stage twice
# this stage's time or the stages' average so far, whichever is more. A full solve is skipped
# with less than _MIN_FULL_SOLVE left, since HiGHS may overrun its time limit while presolving
# the whole model.
_RESERVE = 1.0
_MIN_FULL_SOLVE = 2.0
# A stage's restricted integer program is skipped (the incumbent kept) with less time left.
_MIN_MIP = 0.5
# The last stage, in blocks, takes another pass while one gains this much (a seat, or a rank's
# weight; the tie-breaks add up to less).
_PASS_GAIN = 0.5
# The whole integer program is solved only for a model this small (in columns), or when the
# restricted one left the stage further than this from its bound. On full-size programs the
# restricted program comes within 0.1 % (first choices) to 0.6 % (seats) of the bound, and the
# whole one, given 36 s at 3,000 students, improved neither; at 10,000 HiGHS overran a 60 s
# limit by 30 s presolving it, and the later stages never ran.
_SMALL_MODEL = 20_000
# Above this many x columns (10,000 students: 330,000) the seats stage's LP alone outlasts a 60 s
# limit, so the stages from the seats on are solved in blocks of this many students each; the
# rank stages' LPs outlast their share even so, and break the last seats stage's ties instead.
_BLOCKS_ABOVE = 200_000
_BLOCK_STUDENTS = 2_500
# With schedule constraints (a lunch rule) the seats LP is slower still: at 3,000 students it
# outlasted the whole 10 s limit. Blocks of 400 students there: seats 11,257 against 10,814,
# second choices 824 against 579 (seed 0; blocks of 1,500: no change, of 250: 11,153).
_BLOCKS_ABOVE_WITH_RULES = 50_000
_BLOCK_STUDENTS_WITH_RULES = 400
_PROVE_ABOVE_GAP = 0.01
# Kept back from the time limit for building the result, and for HiGHS's overruns of its own.
_FINISH = 0.2
# ... and per column, for what follows the stages (the top-up, the evenness moves, the result):
# at 10,000 students with a lunch rule the run overran a 60 s limit by 0.8 s with 0.2 s alone.
_FINISH_PER_COLUMN = 4e-6
# In blocks, once the seats' floor is set, a rank-r choice met weighs this over r seats.
_RANKS_WEIGHT = 3.0
# The share of the seats reached in stage 3 that the later stages may trade for better ranks.
SEAT_SLACK = 0.005
_SEATS_KEPT = "seats_kept"
_STUDENTS = "students_with_classes"
_SEATS_STAGES = (_SEATS_KEPT, "stars", "seats")


@dataclass
class _Rows:
    lower: list[float] = field(default_factory=list)
    upper: list[float] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)
    indices: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)

    def add(self, cols: Sequence[int], coefs: Sequence[float], lower: float, upper: float) -> None:
        self.starts.append(len(self.indices))
        self.indices.extend(cols)
        self.values.extend(coefs)
        self.lower.append(lower)
        self.upper.append(upper)


@dataclass
class _Model:
    pairs: list[tuple[int, int]]  # x column -> (student id, section id)
    # column -> its student's place in the shuffled order, also their y's index among the y columns
    owner: npt.NDArray[np.intp]
    counted: npt.NDArray[np.bool_]  # x column -> a starred section (False: one a rule requires)
    aux: list[Aux]  # the schedule constraints' 0/1 columns, after the y columns
    n_cols: int
    rows: _Rows
    stages: list[tuple[str, FloatArray]]  # objective name, cost over every column
    first_choices: FloatArray
    students: FloatArray
    seats: FloatArray

    @property
    def n_y(self) -> int:
        """The y columns (one per student with a section to be given), after the x columns."""
        return self.n_cols - len(self.pairs) - len(self.aux)


def _build(lottery: LotteryInput, rng: random.Random) -> _Model:
    students = list(lottery.students)
    rng.shuffle(students)  # column order never follows student ids
    pairs: list[tuple[int, int]] = []
    pair_sections: list[Section] = []
    pair_students: list[Student] = []
    for student in students:
        for section in eligible_sections(lottery, student):
            pairs.append((student.id, section.id))
            pair_sections.append(section)
            pair_students.append(student)
    n_counted = len(pairs)
    # A section a schedule constraint asks for (a lunch section) is given without a star, to
    # students who have a section to be given: a column of its own that no objective counts.
    if lottery.rules:
        required = required_sections(lottery.rules, lottery.sections)
        wanted = [s for s in lottery.sections if s.id in required]
        placed_somewhere = dict.fromkeys(student_id for student_id, _ in pairs)
        by_id = {student.id: student for student in students}
        for student_id in placed_somewhere:
            student = by_id[student_id]
            wants = student.starred
            for section in wanted:
                if section.class_id not in wants and section.admits(student.grade):
                    pairs.append((student_id, section.id))
                    pair_sections.append(section)
                    pair_students.append(student)
    n_x = len(pairs)
    counted = np.zeros(n_x, dtype=bool)
    counted[:n_counted] = True

    # y columns, for students with at least one eligible section, follow the x columns.
    x_cols: dict[int, list[int]] = defaultdict(list)
    for col, (student_id, _) in enumerate(pairs):
        x_cols[student_id].append(col)
    y_col = {student_id: n_x + i for i, student_id in enumerate(x_cols)}
    n_cols = n_x + len(y_col)

    rows = _Rows()
    by_section: dict[int, list[int]] = defaultdict(list)
    for col, (_, section_id) in enumerate(pairs):
        by_section[section_id].append(col)
    capacity = {section.id: section.capacity for section in lottery.sections}
    for section_id, cols in by_section.items():
        if len(cols) > capacity[section_id]:
            rows.add(cols, [1.0] * len(cols), 0.0, float(max(capacity[section_id], 0)))

    caps = lottery.student_capacity
    for student in students:
        if student.id not in x_cols:
            continue
        cols = x_cols[student.id]
        by_class: dict[int, list[int]] = defaultdict(list)
        by_timeslot: dict[int, list[int]] = defaultdict(list)
        spans: list[float] = []
        for col in cols:
            section = pair_sections[col]
            by_class[section.class_id].append(col)
            slots = set(section.timeslot_ids)
            spans.append(float(len(slots)))
            for timeslot in slots:
                by_timeslot[timeslot].append(col)
        for group in (*by_class.values(), *by_timeslot.values()):
            if len(group) > 1:
                rows.add(group, [1.0] * len(group), 0.0, 1.0)
        if student.max_sections is not None and student.max_sections < len(cols):
            rows.add(cols, [1.0] * len(cols), 0.0, float(max(student.max_sections, 0)))
        if student.max_timeslots is not None and student.max_timeslots < sum(spans):
            rows.add(cols, spans, 0.0, float(max(student.max_timeslots, 0)))
        y = y_col[student.id]
        mine = [col for col in cols if counted[col]]
        rows.add([*mine, y], [1.0] * len(mine) + [-1.0], 0.0, math.inf)  # y <= sum x
        if caps is not None:
            for col in cols:
                rows.add([col, y], [1.0, -1.0], -math.inf, 0.0)  # x <= y
    if caps is not None and len(y_col) > caps:
        ys = list(y_col.values())
        rows.add(ys, [1.0] * len(ys), 0.0, float(max(caps, 0)))
    encoding = Encoding(next_col=n_cols)
    aux_owner: list[int] = []
    if lottery.rules:
        for student in students:
            if student.id in x_cols:
                held = [(col, pair_sections[col]) for col in x_cols[student.id]]
                before = encoding.next_col
                encode(lottery.rules, held, encoding)
                aux_owner += [y_col[student.id] - n_x] * (encoding.next_col - before)
        for cols, coefs, lower, upper in encoding.rows:
            rows.add(cols, coefs, lower, upper)
    owner = np.concatenate(
        [
            np.array([y_col[student_id] - n_x for student_id, _ in pairs], dtype=np.intp),
            np.arange(len(y_col), dtype=np.intp),
            np.array(aux_owner, dtype=np.intp),
        ]
    )
    n_cols = encoding.next_col

    ranks: dict[int, FloatArray] = {}
    stars = np.zeros(n_cols)
    seats = np.zeros(n_cols)
    seats[:n_x] = counted
    starred = {student.id: student.starred for student in students}  # a property: computed once
    for col, (section, student) in enumerate(zip(pair_sections, pair_students, strict=True)):
        ranked = student.priorities.get(section.first_timeslot, ())
        for rank, class_id in enumerate(ranked, start=1):
            if class_id == section.class_id:
                if rank not in ranks:
                    ranks[rank] = np.zeros(n_cols)
                ranks[rank][col] += 1.0
        if section.class_id in starred[student.id]:
            stars[col] = 1.0
    students_served = np.zeros(n_cols)
    students_served[n_x : n_x + len(y_col)] = 1.0
    first_choices = ranks.get(1, np.zeros(n_cols))

    stages: list[tuple[str, FloatArray]] = [
        ("priority_1", first_choices),
        (_STUDENTS, students_served),
        (_SEATS_KEPT, seats),
    ]
    stages += [(f"priority_{rank}", ranks[rank]) for rank in sorted(ranks) if rank > 1]
    stages += [("stars", stars), ("seats", seats)]
    # A stage with nothing to count, or counting what the next one counts, only spends time: stars
    # met (a priority is a star, one section per class) equal seats filled under these rules.
    kept: list[tuple[str, FloatArray]] = []
    for i, (name, cost) in enumerate(stages):
        following = stages[i + 1][1] if i + 1 < len(stages) else None
        if following is None or (cost.any() and not np.array_equal(cost, following)):
            kept.append((name, cost))
    stages = kept
    return _Model(
        pairs,
        owner,
        counted,
        encoding.aux,
        n_cols,
        rows,
        stages,
        first_choices,
        students_served,
        seats,
    )


def _highs(model: _Model, integer: bool) -> highspy.Highs:
    h = highspy.Highs()  # type: ignore[no-untyped-call]  # its __init__ has no annotations
    h.setOptionValue("output_flag", False)
    n = model.n_cols
    zeros = np.zeros(n)
    h.addCols(
        n, zeros, zeros, np.ones(n), 0, np.zeros(n, np.int32), np.zeros(0, np.int32), zeros[:0]
    )
    rows = model.rows
    if rows.lower:
        h.addRows(
            len(rows.lower),
            np.array(rows.lower),
            np.array(rows.upper),
            len(rows.indices),
            np.array(rows.starts, dtype=np.int32),
            np.array(rows.indices, dtype=np.int32),
            np.array(rows.values),
        )
    if integer and n:
        h.changeColsIntegrality(
            n,
            np.arange(n, dtype=np.int32),
            np.full(n, highspy.HighsVarType.kInteger.value, dtype=np.uint8),
        )
    h.changeObjectiveSense(highspy.ObjSense.kMaximize)
    return h


def _set_costs(h: highspy.Highs, cost: FloatArray) -> None:
    n = len(cost)
    if n:
        h.changeColsCost(n, np.arange(n, dtype=np.int32), cost)


def _limit_time(h: highspy.Highs, seconds: float) -> None:
    """Let the next run take ``seconds`` more: HiGHS counts its time limit from the object's
    first run, not from each run."""
    h.setOptionValue("time_limit", h.getRunTime() + max(seconds, 1e-3))


def _has_solution(h: highspy.Highs) -> bool:
    return bool(h.getInfo().primal_solution_status == highspy.kSolutionStatusFeasible)


def _gap(value: float, bound: float) -> float | None:
    """The relative gap of a time-limited stage: (bound - value) / max(|value|, 1)."""
    if not math.isfinite(bound):
        return None
    return max(bound - value, 0.0) / max(abs(value), 1.0)


def _with_students_marked(model: _Model, solution: FloatArray) -> FloatArray:
    """The solution with y = 1 for every placed student, y = 0 otherwise, and each constraint
    column worth what its expression is: still feasible (with a program capacity, x <= y already
    held) and the best warm start for the students stage."""
    n_x = len(model.pairs)
    x = solution[:n_x] > 0.5
    marked = np.zeros(model.n_cols)
    marked[:n_x] = x
    n_y = model.n_y
    placed = np.zeros(n_y, dtype=bool)
    np.logical_or.at(placed, model.owner[:n_x][model.counted], x[model.counted])
    marked[n_x : n_x + n_y] = placed
    if model.aux:
        values = marked.tolist()
        evaluate(model.aux, values)
        marked = np.array(values)
    return marked


def _greedy(lottery: LotteryInput, started: float) -> LotteryResult:
    # Imported here: the greedy fill is its own module, needed only when the solver found nothing.
    from lottery_service.domain.greedy import greedy_fill

    found = greedy_fill(lottery)
    report = SolverReport(Method.GREEDY, False, None, time.monotonic() - started)
    return LotteryResult(found.assignments, report)


def _stage_cost(model: _Model, k: int, tie_break: FloatArray) -> tuple[FloatArray, float]:
    """Stage ``k``'s cost, and the absolute gap within which a solution proves the stage: under
    1 minus what its tie-breaks add up to, so a solution one short (of seats, of priorities
    met) never passes as optimal.

    The seats stages break ties at random. The first one (seats kept) also by the lower ranks:
    at 3,000 students its LP then took 0.64 s instead of 1.23 s (a less degenerate optimum),
    which left a 3 s limit time for its integer program, and the ranks the next stages count
    are already good where the time limit cuts those short (with a 3 s limit, seed 0: seats
    11,194 -> 11,861, second choices 1,502 -> 1,727; the 10 s runs about the same, 1-2 s
    faster). A stage followed by a priority or
    students stage breaks them by that stage's objective, so that one, if the time limit cuts
    it short, keeps an incumbent already good at it. (Followed by a seats stage, it does not:
    its LP would then take as long as the seats stage's, 2-3 s rather than 0.2 s at 3,000
    students.)
    """
    name, objective = model.stages[k]
    if name == _SEATS_KEPT:
        return objective + tie_break + _ranks_tie_break(model), _RANKED_ABS_GAP
    if k == len(model.stages) - 1:
        return objective + tie_break, _TIED_ABS_GAP
    following_name, following = model.stages[k + 1]
    if following_name in _SEATS_STAGES:
        return objective, _INTEGRAL_ABS_GAP
    return objective + following * (_TIE_BREAK_TOTAL / (following.sum() + 1.0)), _TIED_ABS_GAP


def _proven(cost: FloatArray, best: FloatArray | None, bound: float, abs_gap: float) -> bool:
    """Whether ``best`` is within what the stage's integer optimum can be, given ``bound``."""
    if best is None:
        return False
    value = float(cost @ best)
    if abs_gap < _INTEGRAL_ABS_GAP:  # tie-breaks: the objective is not integral
        return value >= bound - abs_gap
    return value >= math.floor(bound + 1e-6) - 1e-6


def optimise(
    lottery: LotteryInput,
    time_limit: float = 10.0,
    *,
    blocks_above: int | None = None,
    block_students: int | None = None,
) -> LotteryResult:
    """The lexicographically best assignment, or the best found within ``time_limit`` seconds.
    ``blocks_above`` and ``block_students`` set the decomposition (see :func:`_in_blocks`); by
    default it depends on whether the program has schedule constraints."""
    ruled = bool(lottery.rules)
    if blocks_above is None:
        blocks_above = _BLOCKS_ABOVE_WITH_RULES if ruled else _BLOCKS_ABOVE
    if block_students is None:
        block_students = _BLOCK_STUDENTS_WITH_RULES if ruled else _BLOCK_STUDENTS
    started = time.monotonic()
    rng = random.Random(lottery.seed)
    model = _build(lottery, rng)
    n = model.n_cols
    if not model.pairs:  # nobody can be placed: the empty assignment is the optimum
        report = SolverReport(Method.OPTIMISER, True, None, time.monotonic() - started)
        return LotteryResult((), report)
    tie_break = np.zeros(n)
    tie_break[: len(model.pairs)] = [
        rng.random() * _TIE_BREAK_TOTAL / (n + 1) for _ in range(len(model.pairs))
    ]
    tie_break[: len(model.pairs)] *= model.counted  # a required section is taken when needed

    lp = _highs(model, integer=False)
    lp.setOptionValue("presolve", "off")
    mip = _highs(model, integer=True)
    mip.setOptionValue("mip_rel_gap", 0.0)
    mip.setOptionValue("random_seed", lottery.seed % 2_147_483_647)
    all_cols = np.arange(n, dtype=np.int32)
    ones = np.ones(n)
    rows = _RowArrays.of(model.rows)  # what the blocks cut their programs from
    best: FloatArray | None = None
    optimal = True
    gap: float | None = None

    finish = _FINISH + _FINISH_PER_COLUMN * n

    def left() -> float:
        return time_limit - finish - (time.monotonic() - started)

    names = [name for name, _ in model.stages]
    # From the first seats stage on (a program without lower ranks has no "seats_kept" stage).
    blocked_from = next((i for i, n_ in enumerate(names) if n_ in _SEATS_STAGES), len(names))
    if ruled and _STUDENTS in names:
        # With schedule constraints the students stage's LP alone took 5.3 s of 10 on one
        # program of three at 3,000 students (the blocks then never reached their integer
        # programs): in blocks too, from the incumbent the first choices' stage leaves.
        blocked_from = min(blocked_from, names.index(_STUDENTS))
    for k, (name, objective) in enumerate(model.stages):
        last = k == len(model.stages) - 1
        stage_started = time.monotonic()
        if left() <= 0:
            optimal = False
            break
        cost, abs_gap = _stage_cost(model, k, tie_break)
        blocked = best is not None and len(model.pairs) > blocks_above and k >= blocked_from
        if blocked and name.startswith("priority_"):
            continue  # in blocks a rank stage's LP outlasts its share: the ranks break ties
        if blocked and best is not None:
            # Too large for the whole LP in time: the stage in blocks of students (see _in_blocks).
            # The ranks, whose stages are skipped in blocks, weigh in every blocked stage: as a
            # tie-break (under 0.25, with the stage's own under 0.75: never a seat). With
            # schedule constraints, once the seats' floor is set, at _RANKS_WEIGHT / r each,
            # traded for seats within the floor's slack as their own stages would: there the
            # time limit cuts every stage short, and second choices had fallen to half the
            # greedy fill's (lunch, 3,000 students: 725-769 with the tie-break in the last
            # stage alone, 1,004-1,202 this way, seats up too). Without constraints, at 10,000
            # students, the weights cost 1 % of the seats (99.53 % of the best fill -> 98.53 %,
            # under the 99 % target) for 530 more second choices: a tie-break there.
            floored = ruled and _SEATS_KEPT in names[:k]
            if floored:
                cost = cost + _ranks_weighted(model)
            elif name != _SEATS_KEPT:  # whose cost has the ranks' tie-break already
                cost = cost + _ranks_tie_break(model)
            abs_gap = _RANKED_ABS_GAP
            later = [n_ for n_ in names[k + 1 :] if not n_.startswith("priority_")]
            share = left() / (1 + len(later))
            best = _in_blocks(
                model,
                rows,
                cost,
                best,
                share,
                block_students,
                shift=k,
                abs_gap=abs_gap,
                seed=lottery.seed,
                repeat=last,
            )
            optimal = False  # no bound for the whole stage: the stats' LP bounds judge it
        else:
            # 1. The LP relaxation, warm-started from the previous stage's basis: its bound.
            _set_costs(lp, cost)
            _limit_time(lp, left())
            lp.run()
            if lp.getModelStatus() != highspy.HighsModelStatus.kOptimal:
                optimal = False
                break
            bound = float(lp.getInfo().objective_function_value)
            relaxed = np.array(lp.getSolution().col_value)
            # 2. The integer program restricted to what the LP leaves open: columns the LP puts at
            # the same 0/1 value as the incumbent are fixed, so the incumbent stays feasible.
            rounded = np.round(relaxed)
            agree = np.abs(relaxed - rounded) < 1e-6
            if best is not None:
                agree &= rounded == best
            fixed = np.where(agree, rounded, 0.0), np.where(agree, rounded, 1.0)
            if best is None or left() >= _MIN_MIP:  # HiGHS overruns tiny limits while presolving
                mip.changeColsBounds(n, all_cols, *fixed)
                found = _solve_stage(mip, model, cost, best, left(), abs_gap)
                mip.changeColsBounds(n, all_cols, np.zeros(n), ones)
                best = found if found is not None else best
            else:  # no time for it: the LP's whole columns, if they keep every row, do better
                best = _rounded_down(model, rows, relaxed, cost, best)
            # 3. Not provably optimal: the whole integer program from the incumbent, if the time
            # left after a generous reserve for the later stages allows (the average so far counts
            # too: the seats stage's LP takes ten times the first stage's).
            now = time.monotonic()
            per_stage = max(now - stage_started, (now - started) / (k + 1))
            reserve = _RESERVE + 2.0 * per_stage * (len(model.stages) - k)
            short = best is None or (_gap(float(cost @ best), bound) or 0.0) > _PROVE_ABOVE_GAP
            worth_it = n <= _SMALL_MODEL or short
            if (
                not _proven(cost, best, bound, abs_gap)
                and worth_it
                and left() - reserve >= _MIN_FULL_SOLVE
            ):
                found = _solve_stage(mip, model, cost, best, left() - reserve, abs_gap)
                best = found if found is not None else best
                if mip.getModelStatus() == highspy.HighsModelStatus.kOptimal and best is not None:
                    bound = float(cost @ best)
            if best is None:
                optimal = False
                break
            if not _proven(cost, best, bound, abs_gap):
                optimal = False
                stage_gap = _gap(float(cost @ best), bound)
                gap = stage_gap if gap is None or stage_gap is None else max(gap, stage_gap)
        if not last:
            reached = float(round(float(objective @ best)))
            if name == _SEATS_KEPT:
                reached -= math.floor(SEAT_SLACK * reached + 1e-9)
            nz = np.flatnonzero(objective).astype(np.int32)
            for h in (lp, mip):
                h.addRow(reached, math.inf, len(nz), nz, objective[nz])
            rows = rows.with_row(nz, objective[nz], reached, math.inf)

    if best is None:
        return _greedy(lottery, started)
    solved = tuple(
        Assignment(student_id, section_id)
        for (student_id, section_id), value in zip(model.pairs, best, strict=False)
        if value > 0.5
    )
    if lottery.rules:  # a lunch section no constraint needs (no objective counted it) goes
        solved = without_unneeded(lottery, solved)
    # A last stage cut short may leave a free seat a student could take: fill it.
    assignments = solved if optimal else top_up(lottery, solved)
    assignments = share_first_choices(lottery, assignments, rng)
    if lottery.rules:  # a donor's lunch may be needed no more
        assignments = without_unneeded(lottery, assignments)
    report = SolverReport(
        Method.OPTIMISER, optimal, None if optimal else gap, time.monotonic() - started
    )
    return LotteryResult(assignments, report)


class _Rounding:
    """A 0/1 solution being built from an LP one, with each row's activity kept up to date, so
    that adding or removing a column is checked against the rows it touches alone."""

    def __init__(self, model: _Model, rows: _RowArrays, start: FloatArray) -> None:
        self.model, self.rows = model, rows
        self.n_x = len(model.pairs)
        order = np.argsort(rows.indices, kind="stable")
        self._row = rows.row_of[order]
        self._value = rows.values[order]
        self._starts = np.searchsorted(rows.indices[order], np.arange(model.n_cols + 1))
        self._row_starts = np.searchsorted(rows.row_of, np.arange(len(rows.lower) + 1))
        self.solution = _with_students_marked(model, start)
        counted = np.flatnonzero(model.counted)
        self.held = np.bincount(  # sections per student (by y index), as the rows count them
            model.owner[counted], weights=self.solution[counted], minlength=model.n_y
        )
        self.activity = np.bincount(
            rows.row_of,
            weights=rows.values * self.solution[rows.indices],
            minlength=len(rows.lower),
        )

    def _entries(self, cols: list[int]) -> tuple[npt.NDArray[np.intp], FloatArray]:
        spans = [slice(self._starts[c], self._starts[c + 1]) for c in cols]
        return (
            np.concatenate([self._row[s] for s in spans]),
            np.concatenate([self._value[s] for s in spans]),
        )

    def _y(self, col: int) -> int | None:
        return self.n_x + int(self.model.owner[col]) if self.model.counted[col] else None

    def change(self, col: int, on: bool) -> list[int]:
        """The columns that turning x ``col`` on (or off) changes: with the student's y when
        it is their first (or last) section."""
        cols = [col]
        y = self._y(col)
        if y is not None:
            held = round(self.held[y - self.n_x])
            if (on and held == 0) or (not on and held == 1):
                cols.append(y)
        return cols

    def _delta(self, cols: list[int], sign: float) -> tuple[npt.NDArray[np.intp], FloatArray]:
        """The rows ``cols`` touch, and what changing them by ``sign`` adds to each."""
        rows, values = self._entries(cols)
        hit, inverse = np.unique(rows, return_inverse=True)
        delta = np.zeros(len(hit))
        np.add.at(delta, inverse, sign * values)
        return hit, delta

    def fits(self, cols: list[int], sign: float) -> bool:
        """Whether changing ``cols`` by ``sign`` keeps every row it touches within its bounds
        (a lower bound already missed only must not fall further)."""
        hit, delta = self._delta(cols, sign)
        after = self.activity[hit] + delta
        return bool(
            np.all(after <= self.rows.upper[hit] + 1e-6)
            and np.all(after >= np.minimum(self.rows.lower[hit], self.activity[hit]) - 1e-6)
        )

    def apply(self, cols: list[int], sign: float) -> None:
        rows, values = self._entries(cols)
        np.add.at(self.activity, rows, sign * values)
        self.solution[cols] = 1.0 if sign > 0 else 0.0
        if self._y(cols[0]) is not None:
            self.held[self.model.owner[cols[0]]] += sign

    def blocking(self, cols: list[int]) -> list[int]:
        """The rows adding ``cols`` would take over their upper bound."""
        hit, delta = self._delta(cols, 1.0)
        over = self.activity[hit] + delta > self.rows.upper[hit] + 1e-6
        return [int(r) for r in hit[over]]

    def counted_by(self, row: int) -> npt.NDArray[np.intp]:
        """The columns ``row`` counts (a positive coefficient)."""
        span = slice(self._row_starts[row], self._row_starts[row + 1])
        return self.rows.indices[span][self.rows.values[span] > 0]

    def holders(self, row: int) -> list[int]:
        """The x columns at 1 in ``row``."""
        cols = self.rows.indices[self._row_starts[row] : self._row_starts[row + 1]]
        cols = cols[cols < self.n_x]
        return [int(c) for c in cols[self.solution[cols] > 0.5]]

    def keeps_every_row(self) -> bool:
        rows = self.rows
        return bool(
            np.all(self.activity >= rows.lower - 1e-6)
            and np.all(self.activity <= rows.upper + 1e-6)
        )


def _rounded_down(
    model: _Model, rows: _RowArrays, relaxed: FloatArray, cost: FloatArray, best: FloatArray
) -> FloatArray:
    """The LP solution rounded to a whole one, if that keeps every row and beats ``best`` on
    the stage's ``cost``; else ``best``.

    For when the time limit leaves no time for a stage's integer program: at 3,000 students
    with a 3 s limit, before that stage's ranks tie-break, its LP ended with 0.3 s left, and
    the run kept the students stage's incumbent, which the top-up then filled greedily (11,194
    seats of a possible 11,863). That LP is nearly integral (64 fractional columns of
    89,570). Its columns at 1 keep every packing row (capacities, one section per class and
    timeslot, caps). The fractional
    ones are then added where they still fit, first choices first; a row an earlier stage added
    (first choices met, students placed) left short is made up from the incumbent's columns,
    each displacing what blocks it where that keeps every such row. Every row is checked
    before the result is used.
    """
    if model.aux:  # a constraint's columns are not rounded here
        return best
    state = _round(model, rows, relaxed, best)
    if not state.keeps_every_row():
        return best
    return state.solution if float(cost @ state.solution) > float(cost @ best) else best


def _round(model: _Model, rows: _RowArrays, relaxed: FloatArray, best: FloatArray) -> _Rounding:
    """:func:`_rounded_down`'s rounding, its rows not yet checked."""
    n_x = len(model.pairs)
    x = relaxed[:n_x]
    whole = np.zeros(model.n_cols)
    whole[:n_x] = x > 1.0 - 1e-6
    state = _Rounding(model, rows, whole)
    fractional = np.flatnonzero((x > 1e-6) & (x <= 1.0 - 1e-6))
    for col in sorted(fractional, key=lambda c: (-model.first_choices[c], -x[c])):
        cols = state.change(int(col), on=True)
        if state.fits(cols, 1.0):
            state.apply(cols, 1.0)
    for row in np.flatnonzero(state.activity < rows.lower - 1e-6):
        members = state.counted_by(int(row))
        xs, ys = members[members < n_x], members[members >= n_x]
        pool = xs[(best[xs] > 0.5) & (state.solution[xs] < 0.5)].tolist()
        # Students placed (y): any section of those the incumbent placed and this has not,
        # the incumbent's first.
        unplaced = ys[(best[ys] > 0.5) & (state.solution[ys] < 0.5)] - n_x
        if len(unplaced):
            theirs = np.flatnonzero(np.isin(model.owner[:n_x], unplaced) & model.counted)
            pool += sorted(theirs.tolist(), key=lambda c: -best[c])
        protected = set(xs.tolist())
        for col in pool:
            if state.activity[row] >= rows.lower[row] - 1e-6:
                break
            _displace_for(state, col, protected)
    return state


def _displace_for(state: _Rounding, col: int, protected: set[int]) -> None:
    """Add x ``col``, taking out for each row it would overfill one column there that the short
    row does not count (``protected``), if that keeps every row; else change nothing."""
    removed: list[list[int]] = []
    for row in state.blocking(state.change(col, on=True)):
        for other in state.holders(row):
            if other in protected:
                continue
            cols = state.change(other, on=False)
            if state.fits(cols, -1.0):
                state.apply(cols, -1.0)
                removed.append(cols)
                break
    cols = state.change(col, on=True)
    if state.fits(cols, 1.0):
        state.apply(cols, 1.0)
        return
    for cols in reversed(removed):
        state.apply(cols, 1.0)


def _lower_ranks(model: _Model) -> FloatArray:
    """The rank-2, rank-3 ... objectives as one, rank r weighing 1/r."""
    weights = np.zeros(model.n_cols)
    for name, objective in model.stages:
        if name.startswith("priority_") and name != "priority_1":
            weights += objective / int(name.removeprefix("priority_"))
    return weights


def _ranks_tie_break(model: _Model) -> FloatArray:
    """The lower ranks as one tie-break, adding up to less than 0.25: with the stage's own
    tie-breaks, under 1, so it never trades a seat."""
    weights = _lower_ranks(model)
    return weights * (0.25 / (float(weights.sum()) + 1.0))


def _ranks_weighted(model: _Model) -> FloatArray:
    """The lower ranks weighing ``_RANKS_WEIGHT / r`` each: worth trading a seat for (a second
    choice weighs one and a half seats), within the seats' floor."""
    return _lower_ranks(model) * _RANKS_WEIGHT


def _in_blocks(
    model: _Model,
    rows: _RowArrays,
    cost: FloatArray,
    best: FloatArray,
    seconds: float,
    size: int,
    *,
    shift: int,
    abs_gap: float,
    seed: int,
    repeat: bool = False,
) -> FloatArray:
    """A stage improved one block of students at a time, every other student's columns fixed at
    the incumbent. Each block is a program of its own, cut from the rows (:func:`_block`): its
    LP, then its integer program with every column the LP settles at the incumbent's value
    fixed. Solving the whole model with the other columns fixed by bounds instead cost 0.3-1.2 s
    a block (presolve went through every row each time), against 0.3 s (lunch, 3,000 students:
    19 blocks in 10 s instead of 8; seats 11,179 -> 11,507, second choices 1,002 -> 1,570). A
    block's result replaces the incumbent only where it is no worse, so each keeps every row.

    With ``repeat`` (the last stage, which has the rest of the time) the students are cut into
    blocks again, half a block further on, while a pass gains at least ``_PASS_GAIN`` and time
    is left: at 10,000 students one pass ended at 21 s of 60, and more passes gave 90 more
    seats and 420 more second choices."""
    deadline = time.monotonic() + seconds
    again = 0
    while True:
        before = float(cost @ best)
        best = _one_pass(model, rows, cost, best, deadline, size, shift + again, abs_gap, seed)
        gained = float(cost @ best) - before
        if not repeat or gained < _PASS_GAIN or deadline - time.monotonic() < _MIN_MIP:
            return best
        again += 1


def _one_pass(
    model: _Model,
    rows: _RowArrays,
    cost: FloatArray,
    best: FloatArray,
    deadline: float,
    size: int,
    shift: int,
    abs_gap: float,
    seed: int,
) -> FloatArray:
    """Every block of one partition of the students, in turn, until ``deadline``."""
    place = (model.owner + shift * (size // 2)) % max(model.n_y, 1)  # each stage its own blocks
    for first in range(0, model.n_y, size):
        remaining = deadline - time.monotonic()
        if remaining < _MIN_MIP:
            break
        inside = (place >= first) & (place < first + size)
        h, cols = _block(rows, inside, best)
        k = len(cols)
        _set_costs(h, cost[cols])
        _limit_time(h, remaining / 2)
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            continue
        relaxed = np.array(h.getSolution().col_value)
        rounded = np.round(relaxed)
        start = best[cols]
        settled = (np.abs(relaxed - rounded) < 1e-6) & (rounded == start)
        every = np.arange(k, dtype=np.int32)
        h.changeColsIntegrality(
            k, every, np.full(k, highspy.HighsVarType.kInteger.value, dtype=np.uint8)
        )
        h.changeColsBounds(k, every, np.where(settled, start, 0.0), np.where(settled, start, 1.0))
        h.setOptionValue("mip_rel_gap", 0.0)
        h.setOptionValue("mip_abs_gap", abs_gap)
        h.setOptionValue("random_seed", seed % 2_147_483_647)
        _limit_time(h, deadline - time.monotonic())
        if not _run_from(h, start):
            continue
        found = best.copy()
        found[cols] = np.round(np.array(h.getSolution().col_value))
        found = _with_students_marked(model, found)
        if float(cost @ found) >= float(cost @ best) - 1e-9:
            best = found
    return best


def _block(
    rows: _RowArrays, inside: npt.NDArray[np.bool_], best: FloatArray
) -> tuple[highspy.Highs, npt.NDArray[np.intp]]:
    """The program over the ``inside`` columns alone (an LP until made integer), every other
    column at its value in ``best``: each row that touches an inside column, its bounds less
    what the outside columns already put in it; the rows that touch none hold already."""
    outer = ~inside[rows.indices]
    taken = np.bincount(
        rows.row_of[outer],
        weights=rows.values[outer] * best[rows.indices[outer]],
        minlength=len(rows.lower),
    )
    entry_rows, entry_cols = rows.row_of[~outer], rows.indices[~outer]
    kept = np.unique(entry_rows)  # the entries are in row order: so are the kept rows
    cols = np.flatnonzero(inside)
    renumbered = np.full(len(inside), -1, dtype=np.intp)
    renumbered[cols] = np.arange(len(cols))
    local_rows = np.searchsorted(kept, entry_rows)
    starts = np.searchsorted(local_rows, np.arange(len(kept))).astype(np.int32)
    h = highspy.Highs()  # type: ignore[no-untyped-call]  # its __init__ has no annotations
    h.setOptionValue("output_flag", False)
    k = len(cols)
    zeros = np.zeros(k)
    h.addCols(
        k, zeros, zeros, np.ones(k), 0, np.zeros(k, np.int32), np.zeros(0, np.int32), zeros[:0]
    )
    if len(kept):
        h.addRows(
            len(kept),
            rows.lower[kept] - taken[kept],
            rows.upper[kept] - taken[kept],
            len(entry_cols),
            starts,
            renumbered[entry_cols].astype(np.int32),
            rows.values[~outer],
        )
    h.changeObjectiveSense(highspy.ObjSense.kMaximize)
    return h, cols


def _solve_stage(
    h: highspy.Highs,
    model: _Model,
    cost: FloatArray,
    start: FloatArray | None,
    seconds: float,
    abs_gap: float,
) -> FloatArray | None:
    """One integer solve of ``cost`` from ``start`` within ``seconds``: its solution, if any."""
    _set_costs(h, cost)
    _limit_time(h, seconds)
    h.setOptionValue("mip_abs_gap", abs_gap)
    if not _run_from(h, start):
        return None
    return _with_students_marked(model, np.array(h.getSolution().col_value))


def _run_from(h: highspy.Highs, start: FloatArray | None) -> bool:
    """Run ``h`` from ``start`` (a feasible incumbent, when there is one): found a solution?"""
    if start is not None:
        warm = highspy.HighsSolution()
        warm.col_value = list(start)
        warm.value_valid = True
        h.setSolution(warm)
    h.run()
    return _has_solution(h)


def lp_bounds(lottery: LotteryInput, keeping: LotteryResult | None = None) -> dict[str, float]:
    """Upper bounds on what any valid assignment can reach, to judge a result by.

    ``first_choices_met``: rank-1 priorities met; ``seats_filled``: seats filled. With
    ``keeping``, over the assignments meeting at least as many first choices as it does:
    ``students_with_classes``, students with a section; and ``seats_filled_keeping``, seats filled
    while also placing at least as many students as it does (how far ``keeping`` is from the best
    fill that keeps the two higher objectives). The schedule constraints are left out (looser,
    still bounds). Each is an LP relaxation's value, certified by weak
    duality (:func:`_dual_bound`), so a solver tolerance or time limit can loosen it, never break
    it. The first three are warm-started one from the next (under a second at 3,000 students);
    seats alone is a degenerate LP the simplex takes ten seconds over, so it runs on the interior
    point solver without crossover (about five).

    A program with schedule constraints gets ``first_choices_met`` with them in (the solver's
    own encoding, so what a committed run can reach: at 3,000 students with a lunch rule 1.5 s,
    at 10,000 9 s), and the looser one without them as ``first_choices_met_without_rules``.
    A lunch rule takes first choices from students who ranked classes in both of its periods,
    and a bound that leaves it out counts them (1 in 300 of them: a solver at 99.7 % of the
    bound with the rule read as 99.4 % without it).
    """
    ruled_first: float | None = None
    if lottery.rules:
        ruled = _build(lottery, random.Random(lottery.seed))
        if ruled.pairs:
            h = _highs(ruled, integer=False)
            h.setOptionValue("presolve", "off")
            ruled_first = _lp_max(h, _RowArrays.of(ruled.rows), ruled.first_choices)
        del ruled
    # The rest without the schedule constraints: a relaxation of a relaxation, so still an upper
    # bound, and with them the LPs took minutes (a lunch rule at 3,000 students: 244 s, not 4).
    lottery = replace(lottery, rules=())
    model = _build(lottery, random.Random(lottery.seed))
    names = ["first_choices_met", "seats_filled"]
    if keeping is not None:
        names += ["students_with_classes", "seats_filled_keeping"]
    bounds = dict.fromkeys(names, 0.0)
    if not model.pairs:
        return bounds
    rows = _RowArrays.of(model.rows)
    h = _highs(model, integer=False)
    h.setOptionValue("presolve", "off")  # warm starts follow: presolve would only slow them
    bounds["first_choices_met"] = _lp_max(h, rows, model.first_choices)
    if ruled_first is not None:
        bounds["first_choices_met_without_rules"] = bounds["first_choices_met"]
        bounds["first_choices_met"] = min(ruled_first, bounds["first_choices_met"])
    if keeping is not None:
        x = _as_columns(model, keeping)
        chain = (
            ("students_with_classes", model.students, model.first_choices),
            ("seats_filled_keeping", model.seats, model.students),
        )
        for name, cost, kept in chain:
            nz = np.flatnonzero(kept).astype(np.int32)
            at_least = float(round(float(kept @ x)))
            h.addRow(at_least, math.inf, len(nz), nz, kept[nz])
            rows = rows.with_row(nz, kept[nz], at_least, math.inf)
            bounds[name] = _lp_max(h, rows, cost)
    alone = _highs(model, integer=False)
    alone.setOptionValue("solver", "ipx")
    alone.setOptionValue("run_crossover", "off")
    alone.setOptionValue("ipm_optimality_tolerance", 1e-6)  # looser: 15 % faster, 0.001 higher
    alone.setOptionValue("presolve", "off")  # its postsolve drops the duals without crossover
    bounds["seats_filled"] = _lp_max(alone, _RowArrays.of(model.rows), model.seats)
    return bounds


@dataclass(frozen=True)
class _RowArrays:
    """The rows as arrays, with each entry's row, for :func:`_dual_bound`."""

    lower: FloatArray
    upper: FloatArray
    row_of: npt.NDArray[np.intp]
    indices: npt.NDArray[np.intp]
    values: FloatArray

    @classmethod
    def of(cls, rows: _Rows) -> _RowArrays:
        lengths = np.diff([*rows.starts, len(rows.indices)])
        return cls(
            np.array(rows.lower, dtype=np.float64),
            np.array(rows.upper, dtype=np.float64),
            np.repeat(np.arange(len(rows.lower)), lengths),
            np.array(rows.indices, dtype=np.intp),
            np.array(rows.values, dtype=np.float64),
        )

    def with_row(
        self, cols: npt.NDArray[np.int32], coefs: FloatArray, lower: float, upper: float
    ) -> _RowArrays:
        return _RowArrays(
            np.append(self.lower, lower),
            np.append(self.upper, upper),
            np.append(self.row_of, np.full(len(cols), len(self.lower), dtype=np.intp)),
            np.append(self.indices, cols.astype(np.intp)),
            np.append(self.values, coefs),
        )


def _lp_max(h: highspy.Highs, rows: _RowArrays, cost: FloatArray) -> float:
    """The LP's maximum of ``cost``, as certified by the row duals of whatever the solver found."""
    if not cost.any():
        return 0.0
    _set_costs(h, cost)
    h.run()
    duals = np.array(h.getSolution().row_dual, dtype=np.float64)
    if len(duals) != len(rows.lower) or not np.isfinite(duals).all():
        duals = np.zeros(len(rows.lower))  # no usable duals: the weakest bound, still valid
    # Any multipliers give a valid bound, whatever their sign convention: keep the smaller.
    return min(_dual_bound(rows, cost, duals), _dual_bound(rows, cost, -duals))


def _dual_bound(rows: _RowArrays, cost: FloatArray, duals: FloatArray) -> float:
    """Weak duality: for any row multipliers, ``max cost @ x`` over ``lower <= A x <= upper``,
    ``0 <= x <= 1`` is at most the multipliers' best row activity plus every positive reduced
    cost. A multiplier is clipped to 0 where its side of the row is unbounded."""
    up = np.where(np.isfinite(rows.upper), np.maximum(duals, 0.0), 0.0)
    down = np.where(np.isfinite(rows.lower), np.minimum(duals, 0.0), 0.0)
    multipliers = up + down
    activity = float(up @ np.nan_to_num(rows.upper, posinf=0.0))
    activity += float(down @ np.nan_to_num(rows.lower, neginf=0.0))
    reduced = cost - np.bincount(
        rows.indices, weights=rows.values * multipliers[rows.row_of], minlength=len(cost)
    )
    return activity + float(np.maximum(reduced, 0.0).sum())


def _as_columns(model: _Model, result: LotteryResult) -> FloatArray:
    """A result as a 0/1 vector over the model's columns (pairs it cannot hold are left out)."""
    col = {pair: i for i, pair in enumerate(model.pairs)}
    x = np.zeros(model.n_cols)
    for a in result.assignments:
        i = col.get((a.student_id, a.section_id))
        if i is not None:
            x[i] = 1.0
    return _with_students_marked(model, x)
