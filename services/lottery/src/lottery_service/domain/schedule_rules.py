"""The program's schedule constraints, as registration announces them, and the repair that makes
a run's assignments keep them.

A constraint is "if ``condition`` (None: always) then ``requirement``" over a student's
schedule, each a JSON expression registration has checked already: ``{"all": [..]}``,
``{"any": [..]}``, ``{"not": e}``, ``{"occupied": timeslot}``, ``{"in_class": class}``,
``{"in_sections": [section, ..]}``. Registration refuses an enrollment whose schedule would
break one (``constraint_failed``), so a run whose assignments break one loses those seats at
commit, seats another student could have had.

The solver keeps them (:mod:`rule_encoding`), and the greedy fill checks them section by section.
:func:`repair` runs after either, as a net: a student whose
assigned schedule breaks a constraint gives up the fewest sections that make every constraint
hold, the least wanted of them first (a plain star before a ranked priority, a lower rank before
a higher), and each repair is named in the run's stats. Registration checks each enrollment
against the schedule it makes: for the lunch rule, a repaired schedule without a lunch section
has no class on one side of lunch, and neither has any part of it, so its enrollments are
accepted in whatever order they are decided.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from itertools import combinations
from typing import Any

from lottery_service.domain.model import Assignment, LotteryInput, LotteryResult, Section, Student

EXHAUSTIVE_UP_TO = 12  # sections a student holds for which every set to give up is tried


@dataclass(frozen=True)
class ScheduleRule:
    id: int
    label: str
    condition: Mapping[str, Any] | None
    requirement: Mapping[str, Any]

    def broken_by(self, sections: Iterable[Section]) -> bool:
        held = _Held.of(sections)
        condition = self.condition is None or holds(self.condition, held)
        return condition and not holds(self.requirement, held)


@dataclass(frozen=True)
class _Held:
    sections: frozenset[int]
    classes: frozenset[int]
    timeslots: frozenset[int]

    @classmethod
    def of(cls, sections: Iterable[Section]) -> _Held:
        listed = list(sections)
        return cls(
            frozenset(s.id for s in listed),
            frozenset(s.class_id for s in listed),
            frozenset(t for s in listed for t in s.timeslot_ids),
        )


def holds(expression: Mapping[str, Any], held: _Held) -> bool:
    """Whether the expression holds for a schedule (registration checked its shape)."""
    ((operator, argument),) = expression.items()
    if operator == "all":
        return all(holds(part, held) for part in argument)
    if operator == "any":
        return any(holds(part, held) for part in argument)
    if operator == "not":
        return not holds(argument, held)
    if operator == "occupied":
        return argument in held.timeslots
    if operator == "in_class":
        return argument in held.classes
    if operator == "in_sections":
        return not held.sections.isdisjoint(argument)
    raise ValueError(f"unknown operator {operator!r}")


@dataclass(frozen=True)
class Repair:
    """A student's assignments that broke constraints, and the sections given up for them."""

    student_id: int
    broken: tuple[ScheduleRule, ...]
    dropped_section_ids: tuple[int, ...]


def schedules(
    lottery: LotteryInput, assignments: Iterable[Assignment]
) -> list[tuple[int, list[Section]]]:
    """Each student's assigned sections, by student id."""
    sections = {s.id: s for s in lottery.sections}
    by_student: dict[int, list[Section]] = {}
    for a in assignments:
        by_student.setdefault(a.student_id, []).append(sections[a.section_id])
    return sorted(by_student.items())


def repair(lottery: LotteryInput, result: LotteryResult) -> tuple[LotteryResult, list[Repair]]:
    """The result with every student's schedule keeping every constraint, and the repairs."""
    if not lottery.rules:
        return result, []
    students = {s.id: s for s in lottery.students}
    dropped: set[tuple[int, int]] = set()
    repairs = []
    for student_id, held in schedules(lottery, result.assignments):
        broken = tuple(rule for rule in lottery.rules if rule.broken_by(held))
        if not broken:
            continue
        given_up = _fewest_to_drop(lottery.rules, held, students.get(student_id))
        dropped.update((student_id, s.id) for s in given_up)
        repairs.append(Repair(student_id, broken, tuple(sorted(s.id for s in given_up))))
    kept = tuple(a for a in result.assignments if (a.student_id, a.section_id) not in dropped)
    return LotteryResult(kept, result.solver), repairs


def _fewest_to_drop(
    rules: tuple[ScheduleRule, ...], held: list[Section], student: Student | None
) -> tuple[Section, ...]:
    """The smallest set of sections whose loss leaves a schedule that keeps every rule, the
    least wanted such set among those of that size (every section, if nothing smaller does)."""
    worth = {s.id: _worth(s, student) for s in held}
    if any(rule.broken_by(()) for rule in rules):  # nothing kept can keep it: all go
        return tuple(held)
    if len(held) > EXHAUSTIVE_UP_TO:  # 2^n sets: give up the least wanted one at a time
        kept = sorted(held, key=lambda s: (-worth[s.id], s.id))
        while kept and any(rule.broken_by(kept) for rule in rules):
            kept.pop()
        return tuple(s for s in held if s not in kept)
    for size in range(1, len(held) + 1):
        candidates = [
            drop
            for drop in combinations(held, size)
            if not any(r.broken_by(s for s in held if s not in drop) for r in rules)
        ]
        if candidates:
            return min(candidates, key=lambda drop: (sum(worth[s.id] for s in drop), _ids(drop)))
    return tuple(held)


def _worth(section: Section, student: Student | None) -> float:
    """How much the student wanted it: a first choice 3, a second 2, a lower rank 1.5, a star 1."""
    if student is not None:
        ranked = student.priorities.get(section.first_timeslot, ())
        if section.class_id in ranked:
            return {0: 3.0, 1: 2.0}.get(ranked.index(section.class_id), 1.5)
    return 1.0


def _ids(sections: tuple[Section, ...]) -> tuple[int, ...]:
    return tuple(s.id for s in sections)


def described(repairs: list[Repair]) -> list[dict[str, Any]]:
    """The repairs as the run's stats list them."""
    return [
        {
            "student_id": r.student_id,
            "constraints": [{"id": rule.id, "label": rule.label} for rule in r.broken],
            "dropped_section_ids": list(r.dropped_section_ids),
        }
        for r in repairs
    ]


def without_unneeded(
    lottery: LotteryInput, assignments: tuple[Assignment, ...]
) -> tuple[Assignment, ...]:
    """``assignments`` less each section a student did not star (one given because a constraint
    asks for it, a lunch section) that no constraint needs: the solver counts such a section for
    no objective, so it may hold one it does not need."""
    students = {s.id: s for s in lottery.students}
    dropped: set[tuple[int, int]] = set()
    for student_id, held in schedules(lottery, assignments):
        starred = students[student_id].starred if student_id in students else frozenset()
        kept = list(held)
        for section in sorted(held, key=lambda s: s.id):
            if section.class_id in starred:
                continue
            rest = [s for s in kept if s.id != section.id]
            if not any(rule.broken_by(rest) for rule in lottery.rules):
                kept = rest
                dropped.add((student_id, section.id))
    return tuple(a for a in assignments if (a.student_id, a.section_id) not in dropped)
