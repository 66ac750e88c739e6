"""How well a lottery result served the students: the run's ``stats``.

Choices where the contract leaves room:

- Hours: every timeslot counts as one hour, so a section's hours are its number of timeslots.
- ``overall_utility`` follows the ESP Website: Σ(√weight·√utility) / Σ√weight over all students,
  where utility = interest hours + 1.5 * priority hours of the sections the student got (a
  section meeting one of the student's priorities counts as priority hours, any other as
  interest hours) and weight = hours requested = the number of distinct timeslots in which the
  student has at least one eligible section. ``least_served`` ranks students by
  (1 + √utility) / (1 + √weight), lowest first.
- ``priority[N].requested`` counts every rank-N priority given; ``met`` those met (a section of
  the class starting at that timeslot); ``percent`` is None when nothing was requested.
- A star request is a starred class (priorities included) with at least one section admitting
  the student's grade; ``stars.met`` counts those the student got a section of.
- ``unplaced`` gives one reason for every starred class the student did not get (see
  ``unplaced_reasons``), including classes no section of which admits the student's grade.
- ``first_choices_per_student`` is how fairly the first choices were shared: among students
  who ranked at least one class first, how many got 0, 1, 2, ... of them; ``first_choices_gini``
  is the Gini coefficient of those counts (0: everyone got as many; towards 1: a few got them
  all), so two methods, or two runs, can be compared by more than their totals.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from typing import Any

from lottery_service.domain.model import LotteryInput, LotteryResult, Section, Student

PRIORITY_UTILITY = 1.5
LEAST_SERVED = 10
REASONS = ("full", "grade", "time", "cap", "available")


class _View:
    """A result indexed by student, section and class."""

    def __init__(self, lottery: LotteryInput, result: LotteryResult) -> None:
        self.lottery = lottery
        self.sections = {s.id: s for s in lottery.sections}
        self.by_class: dict[int, list[Section]] = defaultdict(list)
        for section in lottery.sections:
            self.by_class[section.class_id].append(section)
        self.filled: Counter[int] = Counter()
        self.got: dict[int, list[Section]] = defaultdict(list)
        for a in result.assignments:
            assigned = self.sections.get(a.section_id)
            if assigned is not None:
                self.filled[assigned.id] += 1
                self.got[a.student_id].append(assigned)
        self.placed = sum(1 for s in lottery.students if self.got.get(s.id))

    def eligible(self, student: Student, class_id: int) -> list[Section]:
        return [s for s in self.by_class.get(class_id, []) if s.admits(student.grade)]

    def busy(self, student_id: int) -> set[int]:
        return {t for s in self.got.get(student_id, []) for t in s.timeslot_ids}

    def classes(self, student_id: int) -> set[int]:
        return {s.class_id for s in self.got.get(student_id, [])}


def _reason(view: _View, student: Student, class_id: int) -> str:
    eligible = view.eligible(student, class_id)
    if not eligible:
        return "grade"
    open_ = [s for s in eligible if view.filled[s.id] < s.capacity]
    if not open_:
        return "full"
    busy = view.busy(student.id)
    free = [s for s in open_ if not busy.intersection(s.timeslot_ids)]
    if not free:
        return "time"
    held = view.got.get(student.id, [])
    cap = view.lottery.student_capacity
    if student.max_sections is not None and len(held) >= student.max_sections:
        return "cap"
    if not held and cap is not None and view.placed >= cap:
        return "cap"
    if student.max_timeslots is not None and all(
        len(busy) + len(set(s.timeslot_ids)) > student.max_timeslots for s in free
    ):
        return "cap"
    return "available"  # a seat the student could have taken was left empty


def unplaced_reasons(lottery: LotteryInput, result: LotteryResult) -> dict[tuple[int, int], str]:
    """Why each starred class a student did not get was missed, by (student_id, class_id).

    ``grade``: no section of the class admits the student's grade (or it has no section);
    ``full``: every eligible section is at capacity; ``time``: every eligible section with a free
    seat clashes with the student's other sections; ``cap``: a free, clash-free section exists but
    the student's ``max_sections``/``max_timeslots`` or the program's ``student_capacity`` stops
    it; ``available``: none of these, the method left a seat the student could have had (a greedy
    result never has this; a time-limited optimiser's might).
    """
    return _unplaced(_View(lottery, result))


def _unplaced(view: _View) -> dict[tuple[int, int], str]:
    reasons: dict[tuple[int, int], str] = {}
    for student in view.lottery.students:
        got = view.classes(student.id)
        for class_id in sorted(student.starred - got):
            reasons[(student.id, class_id)] = _reason(view, student, class_id)
    return reasons


def _met_priorities(student: Student, sections: list[Section]) -> set[tuple[int, int]]:
    """The (timeslot, class) priorities of the student met by these sections."""
    starts = {(s.first_timeslot, s.class_id) for s in sections}
    return {
        (t, c) for t, classes in student.priorities.items() for c in classes if (t, c) in starts
    }


def lottery_stats(lottery: LotteryInput, result: LotteryResult) -> dict[str, Any]:
    view = _View(lottery, result)
    students = lottery.students
    with_classes = without_options = 0
    star_requested = star_met = 0
    priority: dict[int, list[int]] = defaultdict(lambda: [0, 0])  # rank -> [requested, met]
    histogram: Counter[int] = Counter()
    scored: list[tuple[float, int]] = []
    sum_weighted = sum_weights = 0.0
    first_met: list[int] = []  # per student who ranked a class first: how many were met

    for student in students:
        held = view.got.get(student.id, [])
        got_classes = {s.class_id for s in held}
        options = [s for c in student.starred for s in view.eligible(student, c)]
        if held:
            with_classes += 1
        elif not options:
            without_options += 1
        for class_id in student.starred:
            if view.eligible(student, class_id):
                star_requested += 1
                star_met += class_id in got_classes
        met = _met_priorities(student, held)
        firsts = firsts_met = 0
        for timeslot, classes in student.priorities.items():
            for rank, class_id in enumerate(classes, start=1):
                priority[rank][0] += 1
                priority[rank][1] += (timeslot, class_id) in met
                if rank == 1:
                    firsts += 1
                    firsts_met += (timeslot, class_id) in met
        if firsts:
            first_met.append(firsts_met)
        busy = {t for s in held for t in s.timeslot_ids}
        histogram[len(busy)] += 1

        utility = 0.0
        for s in held:
            hours = len(set(s.timeslot_ids))
            is_priority = (s.first_timeslot, s.class_id) in met
            utility += hours * (PRIORITY_UTILITY if is_priority else 1.0)
        weight = float(len({t for s in options for t in s.timeslot_ids}))
        sum_weighted += math.sqrt(weight) * math.sqrt(utility)
        sum_weights += math.sqrt(weight)
        scored.append(((1 + math.sqrt(utility)) / (1 + math.sqrt(weight)), student.id))

    unstarred = sum(
        1
        for student in students
        for s in view.got.get(student.id, [])
        if s.class_id not in student.starred
    )
    reasons = _unplaced(view)
    reason_counts = dict.fromkeys(REASONS, 0)
    for reason in reasons.values():
        reason_counts[reason] += 1
    scored.sort()
    solver = result.solver
    max_slots = max(histogram, default=0)
    return {
        "students": len(students),
        "students_with_classes": with_classes,
        "empty_schedules": len(students) - with_classes - without_options,
        "students_without_options": without_options,
        "enrollments": len(result.assignments),
        "seats": sum(s.capacity for s in lottery.sections),
        # Seats of starred classes (what the objectives and the LP bounds count); the sections
        # a constraint asked for and the student did not star (lunch) are counted apart.
        "seats_filled": sum(min(view.filled[s.id], s.capacity) for s in lottery.sections)
        - unstarred,
        "constraint_sections_filled": unstarred,
        "sections_full": sum(1 for s in lottery.sections if view.filled[s.id] >= s.capacity),
        "priority": {
            str(rank): {
                "requested": requested,
                "met": met_n,
                "percent": round(100.0 * met_n / requested, 1) if requested else None,
            }
            for rank, (requested, met_n) in sorted(priority.items())
        },
        "stars": {"requested": star_requested, "met": star_met},
        "timeslots_filled_histogram": {str(n): histogram[n] for n in range(max_slots + 1)},
        "overall_utility": round(sum_weighted / sum_weights, 4) if sum_weights else 0.0,
        "least_served": [
            {"student_id": sid, "score": round(score, 4)} for score, sid in scored[:LEAST_SERVED]
        ],
        "unplaced": reason_counts,
        "first_choices_per_student": {str(k): n for k, n in sorted(Counter(first_met).items())},
        "first_choices_gini": round(gini(first_met), 4),
        "solver": {
            "method": str(solver.method),
            "optimal": solver.optimal,
            "gap": solver.gap,
            "seconds": solver.seconds,
        },
    }


def gini(values: list[int]) -> float:
    """The Gini coefficient of ``values`` (0 when they are all equal, or all 0): the mean
    absolute difference of every pair over twice the mean."""
    n, total = len(values), sum(values)
    if n == 0 or total == 0:
        return 0.0
    ranked = sorted(values)
    weighted = sum(i * v for i, v in enumerate(ranked, start=1))
    return (2.0 * weighted) / (n * total) - (n + 1) / n
