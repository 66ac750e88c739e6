"""The ESP Website's randomized greedy lottery, in plain Python.

Modelled on the ESP Website's ``LotteryAssignmentController``: first the priority levels (rank 1
at every timeslot, then rank 2, ...), then interest (stars). In each pass the sections are filled
one at a time, longest first (ties in a random order, reshuffled for every pass), so that long
sections are not shut out by clashes. For one section, the candidates are the students who may
still take it (the class is starred, or for a priority pass ranked at the section's first
timeslot; grade admitted; every timeslot free; no section of the class yet; caps not reached).
They are drawn in weighted random order without replacement until the seats run out; a winner's
weight is divided by 1.2 after a priority win and by 1.1 after an interest win, so that lucky
students give way later.

Every random choice comes from ``random.Random(lottery.seed)``: one seed, one result.

Unlike the ESP Website's, it keeps the program's schedule constraints, so the comparison with
the optimiser is fair: a section that would break one is given only with a section a
constraint asks for (a lunch section with a free seat and a free timeslot), and else not at all.
"""

from __future__ import annotations

import math
import random
import time
from collections import defaultdict

from lottery_service.domain.model import (
    Assignment,
    LotteryInput,
    LotteryResult,
    Method,
    Section,
    SolverReport,
    Student,
)
from lottery_service.domain.rule_encoding import required_sections

PRIORITY_FACTOR = 1.2  # ESP's Kp
INTEREST_FACTOR = 1.1  # ESP's Ki


class Holdings:
    """Who holds what so far, kept in dicts and sets so each check is O(1) (the greedy fill's,
    the top-up's and the evenness moves')."""

    def __init__(self, lottery: LotteryInput) -> None:
        self.lottery = lottery
        self.students = {s.id: s for s in lottery.students}
        self.weight = dict.fromkeys(self.students, 1.0)
        self.busy: dict[int, set[int]] = defaultdict(set)  # student -> occupied timeslots
        self.classes: dict[int, set[int]] = defaultdict(set)  # student -> class ids held
        self.sections: dict[int, int] = defaultdict(int)  # student -> number of sections
        self.filled: dict[int, int] = defaultdict(int)  # section -> students
        self.placed: set[int] = set()  # students with at least one section
        self.held: dict[int, list[Section]] = defaultdict(list)  # for the constraints
        required = required_sections(lottery.rules, lottery.sections) if lottery.rules else set()
        self.required = [s for s in lottery.sections if s.id in required]

    @classmethod
    def of(cls, lottery: LotteryInput, assignments: tuple[Assignment, ...]) -> Holdings:
        """The holdings ``assignments`` make."""
        state = cls(lottery)
        sections = {s.id: s for s in lottery.sections}
        for assignment in assignments:
            state.give(state.students[assignment.student_id], sections[assignment.section_id])
        return state

    def completion(self, student: Student, section: Section) -> list[Section] | None:
        """What else the student must be given with ``section`` to keep every constraint: nothing,
        one section a constraint asks for (the first with a free seat that fits), or None."""
        rules = self.lottery.rules
        held = [*self.held[student.id], section]
        if not any(rule.broken_by(held) for rule in rules):
            return []
        for extra in self.required:
            if extra.id == section.id or self.filled[extra.id] >= extra.capacity:
                continue
            if extra.class_id == section.class_id or set(extra.timeslot_ids) & set(
                section.timeslot_ids
            ):
                continue
            if not self.may_take(student, extra, along=section):
                continue
            if not any(rule.broken_by([*held, extra]) for rule in rules):
                return [extra]
        return None

    def may_take(self, student: Student, section: Section, along: Section | None = None) -> bool:
        """Whether the student may take ``section`` (given ``along`` with it, when not None)."""
        sid = student.id
        if section.class_id in self.classes[sid] or not section.admits(student.grade):
            return False
        busy = self.busy[sid]
        if any(t in busy for t in section.timeslot_ids):
            return False
        more = 0 if along is None else 1
        more_slots = set() if along is None else set(along.timeslot_ids)
        cap = student.max_sections
        if cap is not None and self.sections[sid] + more >= cap:
            return False
        slots = len(busy) + len(more_slots | set(section.timeslot_ids))
        return student.max_timeslots is None or slots <= student.max_timeslots

    def program_full(self) -> bool:
        cap = self.lottery.student_capacity
        return cap is not None and len(self.placed) >= cap

    def give(self, student: Student, section: Section) -> None:
        sid = student.id
        self.busy[sid].update(section.timeslot_ids)
        self.classes[sid].add(section.class_id)
        self.sections[sid] += 1
        self.filled[section.id] += 1
        self.placed.add(sid)
        self.held[sid].append(section)

    def result(self) -> tuple[Assignment, ...]:
        """What is held, by student and section."""
        return tuple(
            Assignment(student_id=sid, section_id=section.id)
            for sid in sorted(self.held)
            for section in sorted(self.held[sid], key=lambda s: s.id)
        )

    def take_back(self, student: Student, section: Section) -> None:
        """Undo :meth:`give` (the student had ``section`` and others)."""
        sid = student.id
        self.busy[sid].difference_update(section.timeslot_ids)
        self.classes[sid].discard(section.class_id)
        self.sections[sid] -= 1
        self.filled[section.id] -= 1
        self.held[sid].remove(section)
        if not self.held[sid]:
            self.placed.discard(sid)

    def fill(
        self, section: Section, candidates: list[int], factor: float, rng: random.Random
    ) -> None:
        """Seat the candidates in weighted random order until the section is full."""
        if self.filled[section.id] >= section.capacity or not candidates:
            return
        # Efraimidis-Spirakis: sorting by log(u) / w draws without replacement with
        # probabilities proportional to w. One draw per candidate, in a fixed order.
        keyed = [(math.log(1.0 - rng.random()) / self.weight[sid], sid) for sid in candidates]
        keyed.sort(reverse=True)
        winners = []
        for _, sid in keyed:
            if self.filled[section.id] >= section.capacity:
                break
            student = self.students[sid]
            if not self.may_take(student, section):
                continue
            if sid not in self.placed and self.program_full():
                continue
            along = self.completion(student, section) if self.lottery.rules else []
            if along is None:
                continue
            self.give(student, section)
            for extra in along:
                self.give(student, extra)
            winners.append(sid)
        for sid in winners:
            self.weight[sid] /= factor


def _section_order(sections: list[Section], rng: random.Random) -> list[Section]:
    """Longest first; sections of one length in a fresh random order."""
    shuffled = sorted(sections, key=lambda s: s.id)
    rng.shuffle(shuffled)
    return sorted(shuffled, key=lambda s: -len(set(s.timeslot_ids)))  # stable


def greedy_fill(lottery: LotteryInput) -> LotteryResult:
    started = time.perf_counter()
    state = Holdings(lottery)
    _passes(lottery, state, random.Random(lottery.seed))
    assignments = state.result()
    seconds = time.perf_counter() - started
    return LotteryResult(
        assignments=assignments,
        solver=SolverReport(method=Method.GREEDY, optimal=False, gap=None, seconds=seconds),
    )


def top_up(lottery: LotteryInput, assignments: tuple[Assignment, ...]) -> tuple[Assignment, ...]:
    """``assignments`` plus what the greedy fill's passes still give from there: free seats to
    the students who ranked their class, rank by rank, then to those who starred it.

    A solver cut short by its time limit may leave free seats a student could take; filling
    them only adds (a seat, a star, perhaps a student's first class), so no objective gets
    worse. Rank by rank, as the greedy fill does, rather than to any student who starred the
    class: at 3,000 students with a 3 s limit the solver had placed only first choices, and
    filling the rest by stars alone met 655 second choices, against 1,571 for the greedy fill.
    """
    state = Holdings.of(lottery, assignments)
    _passes(lottery, state, random.Random(lottery.seed))
    return state.result()


def _passes(lottery: LotteryInput, state: Holdings, rng: random.Random) -> None:
    """The greedy fill's passes over ``state``: each priority rank, then interest (stars)."""
    sections = [s for s in lottery.sections if s.timeslot_ids and s.capacity > 0]

    # (rank, class, first timeslot) -> students; class -> students who starred it.
    ranked: dict[tuple[int, int, int], list[int]] = defaultdict(list)
    starred: dict[int, list[int]] = defaultdict(list)
    for student in sorted(lottery.students, key=lambda s: s.id):
        for timeslot, classes in student.priorities.items():
            for rank, class_id in enumerate(classes, start=1):
                ranked[(rank, class_id, timeslot)].append(student.id)
        for class_id in sorted(student.starred):
            starred[class_id].append(student.id)
    max_rank = max((key[0] for key in ranked), default=0)

    for rank in range(1, max_rank + 1):
        for section in _section_order(sections, rng):
            candidates = ranked.get((rank, section.class_id, section.first_timeslot), [])
            state.fill(section, candidates, PRIORITY_FACTOR, rng)
    for section in _section_order(sections, rng):
        state.fill(section, starred.get(section.class_id, []), INTEREST_FACTOR, rng)
