"""Check a lottery result against every rule in ``model``'s docstring, and the program's schedule
constraints, whichever method made it. A section a constraint's requirement names (a lunch
section) may be held without a star: the constraint asks for it."""

from __future__ import annotations

from collections import defaultdict

from lottery_service.domain.model import LotteryInput, LotteryResult, Section
from lottery_service.domain.rule_encoding import required_sections


def violations(lottery: LotteryInput, result: LotteryResult) -> list[str]:
    """Every broken rule, one line each; an empty list means the result is valid."""
    problems: list[str] = []
    students = {s.id: s for s in lottery.students}
    sections = {s.id: s for s in lottery.sections}
    seen: set[tuple[int, int]] = set()
    filled: dict[int, int] = defaultdict(int)
    classes: dict[int, set[int]] = defaultdict(set)
    busy: dict[int, set[int]] = defaultdict(set)
    counts: dict[int, int] = defaultdict(int)
    held: dict[int, list[Section]] = defaultdict(list)  # for the schedule constraints
    required = required_sections(lottery.rules, lottery.sections) if lottery.rules else set()

    for a in result.assignments:
        student = students.get(a.student_id)
        section = sections.get(a.section_id)
        if student is None or section is None:
            what = "student" if student is None else "section"
            problems.append(f"student {a.student_id} section {a.section_id}: unknown {what}")
            continue
        where = f"student {student.id} section {section.id}"
        if (student.id, section.id) in seen:
            problems.append(f"{where}: assigned twice")
            continue
        seen.add((student.id, section.id))
        held[student.id].append(section)
        filled[section.id] += 1
        counts[student.id] += 1
        if section.class_id not in student.starred and section.id not in required:
            problems.append(f"{where}: class {section.class_id} not starred")
        if not section.admits(student.grade):
            problems.append(
                f"{where}: grade {student.grade} outside {section.grade_min}-{section.grade_max}"
            )
        if section.class_id in classes[student.id]:
            problems.append(f"{where}: a second section of class {section.class_id}")
        classes[student.id].add(section.class_id)
        clash = sorted(busy[student.id].intersection(section.timeslot_ids))
        if clash:
            problems.append(f"{where}: timeslot(s) {clash} already taken")
        busy[student.id].update(section.timeslot_ids)

    for section_id, n in sorted(filled.items()):
        capacity = sections[section_id].capacity
        if n > capacity:
            problems.append(f"section {section_id}: {n} students over capacity {capacity}")
    for student_id in sorted(counts):
        student = students[student_id]
        if student.max_sections is not None and counts[student_id] > student.max_sections:
            problems.append(
                f"student {student_id}: {counts[student_id]} sections over cap "
                f"{student.max_sections}"
            )
        n_slots = len(busy[student_id])
        if student.max_timeslots is not None and n_slots > student.max_timeslots:
            problems.append(
                f"student {student_id}: {n_slots} timeslots over cap {student.max_timeslots}"
            )
    cap = lottery.student_capacity
    if cap is not None and len(counts) > cap:
        problems.append(f"program: {len(counts)} students placed over capacity {cap}")
    for rule in lottery.rules:
        for student_id in sorted(held):
            if rule.broken_by(held[student_id]):
                problems.append(f"student {student_id}: breaks constraint {rule.id} {rule.label!r}")
    return problems
