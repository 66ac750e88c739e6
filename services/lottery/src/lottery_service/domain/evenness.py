"""Sharing first choices evenly, among assignments that tie on every objective.

A seat one student holds as a first choice can pass to another student who ranked the same class
first at the same timeslot: the first choices met, the students placed, the seats, every lower
rank and every star stay as they were. :func:`share_first_choices` makes such a move wherever it
gives a student with no first choice met one, taken from a student who keeps at least one other:
"a student with no first choice met goes before one who already has one".

In the integer program this was a stage ("students with a first choice met") and a row every
later stage had to keep: the later stages' LPs took six times longer, and within the time limit
the second choices fell below the greedy fill's (docs/benchmarks.md). These moves keep every
objective exactly and take milliseconds: on the bench's three 3,000-student programs 20 / 29 / 26
students are left without a first choice, where the optimiser alone left 124 / 153 / 171 and the
ESP greedy fill leaves 78 / 133 / 176.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict

from lottery_service.domain.model import Assignment, LotteryInput, Section, Student


def share_first_choices(
    lottery: LotteryInput, assignments: tuple[Assignment, ...], rng: random.Random
) -> tuple[Assignment, ...]:
    """``assignments`` with first choices moved, one seat at a time, from students who have two
    or more to students who have none (in ``rng``'s order); each move keeps every rule."""
    sections = {s.id: s for s in lottery.sections}
    held: dict[int, set[int]] = defaultdict(set)
    for a in assignments:
        held[a.student_id].add(a.section_id)
    by_id = {s.id: s for s in lottery.students}
    firsts = Counter(
        a.student_id
        for a in assignments
        if a.student_id in by_id and _is_first(by_id[a.student_id], sections[a.section_id])
    )
    receivers = [s for s in lottery.students if any(s.priorities.values()) and not firsts[s.id]]
    rng.shuffle(receivers)
    holders: dict[int, list[int]] = defaultdict(list)
    for student_id in sorted(held):
        for section_id in sorted(held[student_id]):
            holders[section_id].append(student_id)
    placed = len(held)
    for receiver in receivers:
        mine = [sections[s] for s in held[receiver.id]]
        capacity = lottery.student_capacity
        if not mine and capacity is not None and placed >= capacity:
            continue  # a new student would pass the program's capacity
        for section in lottery.sections:
            if not _is_first(receiver, section) or not _may_add(lottery, receiver, mine, section):
                continue
            donor = next(
                (
                    d
                    for d in holders[section.id]
                    if firsts[d] >= 2
                    and _is_first(by_id[d], section)
                    and _keeps_rules(lottery, [sections[s] for s in held[d] if s != section.id])
                ),
                None,
            )
            if donor is None:
                continue
            held[donor].discard(section.id)
            holders[section.id].remove(donor)
            held[receiver.id].add(section.id)
            holders[section.id].append(receiver.id)
            firsts[donor] -= 1
            firsts[receiver.id] += 1
            placed += not mine
            break
    return tuple(
        Assignment(student_id, section_id)
        for student_id in sorted(held)
        for section_id in sorted(held[student_id])
    )


def _is_first(student: Student, section: Section) -> bool:
    return student.priorities.get(section.first_timeslot, ())[:1] == (section.class_id,)


def _keeps_rules(lottery: LotteryInput, schedule: list[Section]) -> bool:
    return not any(rule.broken_by(schedule) for rule in lottery.rules)


def _may_add(
    lottery: LotteryInput, student: Student, mine: list[Section], section: Section
) -> bool:
    """Whether the student may hold ``section`` too: their grade, a free timeslot, no other
    section of its class, their caps, and every rule."""
    if not section.admits(student.grade) or section.class_id not in student.starred:
        return False
    busy = {t for s in mine for t in s.timeslot_ids}
    if busy & set(section.timeslot_ids) or section.class_id in {s.class_id for s in mine}:
        return False
    if student.max_sections is not None and len(mine) + 1 > student.max_sections:
        return False
    spans = len(busy) + len(set(section.timeslot_ids))
    if student.max_timeslots is not None and spans > student.max_timeslots:
        return False
    return _keeps_rules(lottery, [*mine, section])
