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

PRIORITY_FACTOR = 1.2  # ESP's Kp
INTEREST_FACTOR = 1.1  # ESP's Ki


class _State:
    """Who holds what so far, kept in dicts and sets so each check is O(1)."""

    def __init__(self, lottery: LotteryInput) -> None:
        self.lottery = lottery
        self.students = {s.id: s for s in lottery.students}
        self.weight = dict.fromkeys(self.students, 1.0)
        self.busy: dict[int, set[int]] = defaultdict(set)  # student -> occupied timeslots
        self.classes: dict[int, set[int]] = defaultdict(set)  # student -> class ids held
        self.sections: dict[int, int] = defaultdict(int)  # student -> number of sections
        self.filled: dict[int, int] = defaultdict(int)  # section -> students
        self.placed: set[int] = set()  # students with at least one section
        self.assignments: list[Assignment] = []

    def may_take(self, student: Student, section: Section) -> bool:
        sid = student.id
        if section.class_id in self.classes[sid] or not section.admits(student.grade):
            return False
        busy = self.busy[sid]
        if any(t in busy for t in section.timeslot_ids):
            return False
        if student.max_sections is not None and self.sections[sid] >= student.max_sections:
            return False
        return student.max_timeslots is None or (
            len(busy) + len(set(section.timeslot_ids)) <= student.max_timeslots
        )

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
        self.assignments.append(Assignment(student_id=sid, section_id=section.id))

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
            self.give(student, section)
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
    rng = random.Random(lottery.seed)
    state = _State(lottery)
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

    assignments = tuple(sorted(state.assignments, key=lambda a: (a.student_id, a.section_id)))
    seconds = time.perf_counter() - started
    return LotteryResult(
        assignments=assignments,
        solver=SolverReport(method=Method.GREEDY, optimal=False, gap=None, seconds=seconds),
    )


def top_up(lottery: LotteryInput, assignments: tuple[Assignment, ...]) -> tuple[Assignment, ...]:
    """``assignments`` plus any starred section a student can still take where a seat is free.

    A solver cut short by its time limit may leave such a seat; filling it only adds (a seat, a
    star, perhaps a student's first class), so no objective gets worse. Sections are visited as
    the greedy fill visits them and candidates drawn from ``random.Random(lottery.seed)``.
    """
    state = _State(lottery)
    sections = {s.id: s for s in lottery.sections}
    for assignment in assignments:
        state.give(state.students[assignment.student_id], sections[assignment.section_id])
    starred: dict[int, list[int]] = defaultdict(list)
    for student in sorted(lottery.students, key=lambda s: s.id):
        for class_id in sorted(student.starred):
            starred[class_id].append(student.id)
    rng = random.Random(lottery.seed)
    open_sections = [s for s in sections.values() if s.timeslot_ids and s.capacity > 0]
    for section in _section_order(open_sections, rng):
        state.fill(section, starred.get(section.class_id, []), 1.0, rng)
    return tuple(sorted(state.assignments, key=lambda a: (a.student_id, a.section_id)))
