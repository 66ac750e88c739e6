"""Which stars and priorities a student may hold, with a reason for each one refused.

A student may star a class of the program within their grade range (their grade comes from a
complete profile). A priority ranks, for one timeslot, classes with a section starting in that
timeslot: at most ``priority_limit`` per timeslot, each class once. A priority is also a star, so
it obeys the same rules. Errors are keyed by the path of the refused value, ready for a 422.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

Errors = dict[str, list[str]]


@dataclass(frozen=True)
class ClassInfo:
    title: str
    grade_min: int
    grade_max: int


@dataclass(frozen=True)
class ProgramCatalog:
    """What the rules need of one program's catalog."""

    program_id: int
    classes: Mapping[int, ClassInfo]
    timeslot_ids: frozenset[int]
    # (timeslot, class) pairs where the class has a section starting in that timeslot
    starts: frozenset[tuple[int, int]]
    priority_limit: int | None = None
    grades: Mapping[int, int] = field(default_factory=dict)  # student id -> grade


def star_problem(catalog: ProgramCatalog, student_id: int, class_id: int) -> str | None:
    """Why this student may not star this class; None when they may."""
    info = catalog.classes.get(class_id)
    if info is None:
        return f"Class {class_id} is not in program {catalog.program_id}."
    grade = catalog.grades.get(student_id)
    if grade is None:
        return (
            f"Student {student_id} has no complete profile for program {catalog.program_id}; "
            "complete it first, so the lottery knows your grade."
        )
    if not info.grade_min <= grade <= info.grade_max:
        return (
            f"{info.title} is for grades {info.grade_min}-{info.grade_max}; "
            f"student {student_id} is in grade {grade}."
        )
    return None


def ranking_problems(
    catalog: ProgramCatalog, student_id: int, timeslot_id: int, class_ids: Sequence[int]
) -> dict[int | None, str]:
    """Problems of one timeslot's ranked list, by index in the list (None: the whole list)."""
    problems: dict[int | None, str] = {}
    if timeslot_id not in catalog.timeslot_ids:
        problems[None] = f"Timeslot {timeslot_id} is not in program {catalog.program_id}."
        return problems
    limit = catalog.priority_limit
    if limit is not None and len(class_ids) > limit:
        problems[None] = f"You may choose up to {limit} classes per timeslot."
    seen: set[int] = set()
    for index, class_id in enumerate(class_ids):
        problem = star_problem(catalog, student_id, class_id)
        if problem is None and class_id in seen:
            problem = f"Class {class_id} is ranked twice in this timeslot."
        if problem is None and (timeslot_id, class_id) not in catalog.starts:
            problem = f"Class {class_id} has no section starting in timeslot {timeslot_id}."
        if problem is not None:
            problems[index] = problem
        seen.add(class_id)
    return problems


def priorities_errors(
    catalog: ProgramCatalog, student_id: int, ranked: Mapping[int, Sequence[int]]
) -> Errors:
    """Errors of a whole ``{timeslot: [class ranked 1, 2, ..]}`` body, keyed ``"<t>"`` or
    ``"<t>.<index>"``."""
    errors: Errors = {}
    for timeslot_id, class_ids in ranked.items():
        for index, problem in ranking_problems(catalog, student_id, timeslot_id, class_ids).items():
            key = str(timeslot_id) if index is None else f"{timeslot_id}.{index}"
            errors[key] = [problem]
    return errors


@dataclass(frozen=True)
class ImportedPriority:
    student_id: int
    timeslot_id: int
    rank: int
    class_id: int


def import_errors(
    catalog: ProgramCatalog,
    stars: Sequence[tuple[int, int]],
    priorities: Sequence[ImportedPriority],
) -> Errors:
    """Errors of a whole program's import, keyed ``stars.<i>.<field>`` and
    ``priorities.<i>.<field>``; every row is checked, so one answer lists every bad row."""
    errors: Errors = {}
    for index, (student_id, class_id) in enumerate(stars):
        problem = star_problem(catalog, student_id, class_id)
        if problem is not None:
            errors[f"stars.{index}.class_id"] = [problem]
    taken_ranks: dict[tuple[int, int, int], int] = {}
    taken_classes: dict[tuple[int, int, int], int] = {}
    limit = catalog.priority_limit
    for index, row in enumerate(priorities):
        where = f"priorities.{index}"
        if row.timeslot_id not in catalog.timeslot_ids:
            errors[f"{where}.timeslot_id"] = [
                f"Timeslot {row.timeslot_id} is not in program {catalog.program_id}."
            ]
            continue
        if limit is not None and row.rank > limit:
            errors[f"{where}.rank"] = [f"Ranks go up to {limit} (the program's priority_limit)."]
            continue
        slot = (row.student_id, row.timeslot_id, row.rank)
        if slot in taken_ranks:
            errors[f"{where}.rank"] = [
                f"Rank {row.rank} in timeslot {row.timeslot_id} is already taken by "
                f"priorities.{taken_ranks[slot]}."
            ]
            continue
        taken_ranks[slot] = index
        problem = star_problem(catalog, row.student_id, row.class_id)
        pair = (row.student_id, row.timeslot_id, row.class_id)
        if problem is None and pair in taken_classes:
            problem = f"Class {row.class_id} is already ranked by priorities.{taken_classes[pair]}."
        if problem is None and (row.timeslot_id, row.class_id) not in catalog.starts:
            problem = f"Class {row.class_id} has no section starting in timeslot {row.timeslot_id}."
        if problem is not None:
            errors[f"{where}.class_id"] = [problem]
        taken_classes.setdefault(pair, index)
    for (student_id, timeslot_id, rank), index in sorted(taken_ranks.items()):
        if rank > 1 and (student_id, timeslot_id, rank - 1) not in taken_ranks:
            errors.setdefault(f"priorities.{index}.rank", []).append(
                f"Rank {rank - 1} is missing for student {student_id} in timeslot "
                f"{timeslot_id}: ranks start at 1 and leave no gaps."
            )
    return errors
