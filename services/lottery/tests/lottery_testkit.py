"""Seeded random lottery inputs shaped like a real ESP program, for tests of any lottery method.

``with_lunch(lottery, timeslots)`` adds the ESP lunch rule over the two middle timeslots.

``generate(students, sections, timeslots, seed)``: about 1.5 sections per class; class popularity
Zipf-skewed (a few classes draw most stars); ~15% of classes are two-timeslot classes, every
section of which spans two consecutive timeslots;
grades 7-12 (1% unknown), each class with its own grade range; each student stars ~10 classes
(mostly within their grade) and ranks up to 3 priorities per timeslot among classes with a
section starting there; ~10% of students carry caps. Capacities are set so seats run short
(about 60% of the student-timeslots).
"""

from __future__ import annotations

import math
import random
from dataclasses import replace

from lottery_service.domain.model import LotteryInput, Section, Student
from lottery_service.domain.schedule_rules import ScheduleRule


def _weighted_sample(rng: random.Random, items: list[int], weights: dict[int, float], k: int):
    """Up to k distinct items, drawn with probability proportional to their weight."""
    keyed = sorted(((math.log(1.0 - rng.random()) / weights[i], i) for i in items), reverse=True)
    return [i for _, i in keyed[:k]]


def generate(
    students: int,
    sections: int,
    timeslots: int,
    seed: int,
    *,
    student_capacity: int | None = None,
) -> LotteryInput:
    rng = random.Random(seed)
    n_classes = max(1, round(sections / 1.5))
    order = list(range(1, n_classes + 1))
    rng.shuffle(order)
    popularity = {c: 1.0 / (rank + 1) for rank, c in enumerate(order)}  # Zipf, s = 1
    grade_range = {}
    two_timeslots = set()  # a class's length is the class's: all its sections share it
    for c in range(1, n_classes + 1):
        lo = rng.choice((7, 7, 7, 8, 9, 10))
        hi = max(lo, rng.choice((12, 12, 12, 11, 10)))
        grade_range[c] = (lo, hi)
        if timeslots > 1 and rng.random() < 0.15:
            two_timeslots.add(c)

    mean_capacity = 0.6 * students * timeslots / (sections * 1.15)
    built: list[Section] = []
    for i in range(sections):
        class_id = i + 1 if i < n_classes else rng.randint(1, n_classes)
        start = rng.randrange(timeslots)
        two = class_id in two_timeslots
        if two and start == timeslots - 1:
            start -= 1
        slots = (start + 1, start + 2) if two else (start + 1,)
        capacity = max(1, round(rng.uniform(0.5, 1.5) * mean_capacity))
        lo, hi = grade_range[class_id]
        built.append(Section(i + 1, class_id, capacity, slots, lo, hi))

    starting: dict[int, list[int]] = {}
    for s in built:
        starting.setdefault(s.first_timeslot, [])
        if s.class_id not in starting[s.first_timeslot]:
            starting[s.first_timeslot].append(s.class_id)
    classes = list(range(1, n_classes + 1))

    people: list[Student] = []
    for sid in range(1, students + 1):
        grade = None if rng.random() < 0.01 else rng.randint(7, 12)

        def fits(c: int, grade: int | None = grade) -> bool:
            return grade is not None and grade_range[c][0] <= grade <= grade_range[c][1]

        # Mostly classes that admit the student, now and then one that does not.
        pool = [c for c in classes if fits(c) or rng.random() < 0.1]
        stars = _weighted_sample(rng, pool, popularity, min(len(pool), rng.randint(6, 14)))
        priorities: dict[int, tuple[int, ...]] = {}
        for t in range(1, timeslots + 1):
            k = rng.randint(0, 3)
            choices = [c for c in starting.get(t, []) if fits(c)]
            if k and choices:
                priorities[t] = tuple(_weighted_sample(rng, choices, popularity, k))
        capped = rng.random() < 0.1
        people.append(
            Student(
                id=sid,
                grade=grade,
                stars=frozenset(stars),
                priorities=priorities,
                max_sections=rng.randint(1, max(1, timeslots - 1)) if capped else None,
                max_timeslots=rng.randint(1, timeslots) if capped and rng.random() < 0.5 else None,
            )
        )
    return LotteryInput(
        sections=tuple(built),
        students=tuple(people),
        student_capacity=student_capacity,
        seed=seed,
    )


def with_lunch(lottery: LotteryInput, timeslots: int) -> LotteryInput:
    """The program with the ESP lunch rule, as ``POST .../lunch`` sets it up over the two middle
    timeslots: a Lunch class with a section in each (room for every student), and "a class
    before lunch and one after: take a lunch section"."""
    middle = (timeslots // 2, timeslots // 2 + 1)  # timeslots are numbered 1..timeslots
    lunch_class = max(s.class_id for s in lottery.sections) + 1
    first_id = max(s.id for s in lottery.sections) + 1
    everyone = len(lottery.students)
    lunch = tuple(
        Section(first_id + i, lunch_class, everyone, (t,), 0, 99) for i, t in enumerate(middle)
    )
    before = [t for t in range(1, timeslots + 1) if t < middle[0]]
    after = [t for t in range(1, timeslots + 1) if t > middle[1]]
    rule = ScheduleRule(
        1,
        "Take a lunch period",
        {
            "all": [
                {"any": [{"occupied": t} for t in before]},
                {"any": [{"occupied": t} for t in after]},
            ]
        },
        {"in_sections": [s.id for s in lunch]},
    )
    return replace(lottery, sections=(*lottery.sections, *lunch), rules=(rule,))
