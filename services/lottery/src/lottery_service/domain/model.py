"""What a lottery run reads and what it produces, as plain values.

A run sees one program: its sections (with capacity, timeslots and the class's grade range) and
its students (grade, stars, ranked priorities per timeslot, optional caps). It returns one set of
assignments. The rules every assignment obeys, whichever method found it:

- only sections of classes the student starred (a priority is also a star), within the class's
  grade range;
- at most one section per class and per timeslot (a section spanning several timeslots occupies
  each), never over a section's capacity;
- at most ``max_sections`` sections and ``max_timeslots`` timeslots for a student who has caps,
  and at most ``student_capacity`` students with any section in the program.

A priority ``(timeslot t, rank N, class c)`` is met when the student gets a section of ``c`` whose
first timeslot is ``t``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # schedule_rules reads Section and Student from here
    from lottery_service.domain.schedule_rules import ScheduleRule


@dataclass(frozen=True)
class Section:
    id: int
    class_id: int
    capacity: int
    timeslot_ids: tuple[int, ...]  # in time order: the first one is where the section starts
    grade_min: int
    grade_max: int

    @property
    def first_timeslot(self) -> int:
        return self.timeslot_ids[0]

    def admits(self, grade: int | None) -> bool:
        return grade is not None and self.grade_min <= grade <= self.grade_max


@dataclass(frozen=True)
class Student:
    id: int
    grade: int | None
    stars: frozenset[int] = frozenset()  # class ids
    # timeslot id -> class ids ranked 1, 2, ...
    priorities: Mapping[int, tuple[int, ...]] = field(default_factory=dict)
    max_sections: int | None = None
    max_timeslots: int | None = None

    @property
    def starred(self) -> frozenset[int]:
        """Stars and every prioritised class: a priority is also a star."""
        ranked = {class_id for classes in self.priorities.values() for class_id in classes}
        return self.stars | ranked


@dataclass(frozen=True)
class LotteryInput:
    sections: tuple[Section, ...]
    students: tuple[Student, ...]
    student_capacity: int | None = None
    seed: int = 0
    # The program's schedule constraints (``schedule_rules.ScheduleRule``): kept by the repair
    # after the solve, not yet by the solver itself.
    rules: tuple[ScheduleRule, ...] = ()


@dataclass(frozen=True)
class Assignment:
    student_id: int
    section_id: int


class Method(StrEnum):
    OPTIMISER = "optimiser"  # an integer program, solved exactly or to the time limit
    GREEDY = "greedy"  # the ESP Website's randomized greedy fill


@dataclass(frozen=True)
class SolverReport:
    method: Method
    optimal: bool
    gap: float | None  # relative MIP gap when the time limit cut the search short
    seconds: float


@dataclass(frozen=True)
class LotteryResult:
    assignments: tuple[Assignment, ...]
    solver: SolverReport


def eligible_sections(lottery: LotteryInput, student: Student) -> list[Section]:
    """The sections a student may be given: of a starred class, within its grade range."""
    starred = student.starred
    return [s for s in lottery.sections if s.class_id in starred and s.admits(student.grade)]


class RunStatus(StrEnum):
    """A run's life: queued → running → done | failed; done → committing → committed (every
    enrollment decided by registration) → reverting → reverted."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    COMMITTING = "committing"
    COMMITTED = "committed"
    REVERTING = "reverting"
    REVERTED = "reverted"


class CommitOutcome(StrEnum):
    """What registration decided for one committed assignment."""

    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    # Not sent yet: sent once the sections the constraints ask for (lunch) are decided, so
    # that registration, judging each enrollment against the schedule it makes, sees them.
    WAITING = "waiting"
