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
from collections import Counter

from lottery_service.domain.greedy import Holdings
from lottery_service.domain.model import Assignment, LotteryInput, Section, Student


def share_first_choices(
    lottery: LotteryInput, assignments: tuple[Assignment, ...], rng: random.Random
) -> tuple[Assignment, ...]:
    """``assignments`` with first choices moved, one seat at a time, from students who have two
    or more to students who have none (in ``rng``'s order); each move keeps every rule."""
    state = Holdings.of(lottery, assignments)
    firsts = Counter(
        sid for sid, held in state.held.items() for s in held if _is_first(state.students[sid], s)
    )
    receivers = [s for s in lottery.students if any(s.priorities.values()) and not firsts[s.id]]
    rng.shuffle(receivers)
    holders: dict[int, list[int]] = {}  # section -> its students, in id order
    for sid in sorted(state.held):
        for section in sorted(state.held[sid], key=lambda s: s.id):
            holders.setdefault(section.id, []).append(sid)
    for receiver in receivers:
        if receiver.id not in state.placed and state.program_full():
            continue  # a new student would pass the program's capacity
        for section in lottery.sections:
            if not _is_first(receiver, section) or not state.may_take(receiver, section):
                continue
            if not _keeps_rules(lottery, [*state.held[receiver.id], section]):
                continue
            donor = next(
                (
                    state.students[d]
                    for d in holders.get(section.id, [])
                    if firsts[d] >= 2
                    and _is_first(state.students[d], section)
                    and _keeps_rules(lottery, [s for s in state.held[d] if s.id != section.id])
                ),
                None,
            )
            if donor is None:
                continue
            state.take_back(donor, section)
            state.give(receiver, section)
            holders[section.id].remove(donor.id)
            holders[section.id].append(receiver.id)
            firsts[donor.id] -= 1
            firsts[receiver.id] += 1
            break
    return state.result()


def _is_first(student: Student, section: Section) -> bool:
    return student.priorities.get(section.first_timeslot, ())[:1] == (section.class_id,)


def _keeps_rules(lottery: LotteryInput, schedule: list[Section]) -> bool:
    return not any(rule.broken_by(schedule) for rule in lottery.rules)
