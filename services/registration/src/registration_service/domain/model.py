"""Snapshots of the catalog and of one student, as the rules see them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from registration_service.domain.constraints import ScheduleConstraint

ENROLLED = "Enrolled"
WAITLISTED = "Waitlisted"
PRIORITY_PREFIX = "Priority/"
STUDENT_CATEGORY = "student"
DROPPED_VERBS = (ENROLLED, WAITLISTED)  # and every Priority/N: what a drop ends


def ended_by_drop(verb: str) -> bool:
    """A seat, a place in line and a lottery choice all end with a drop."""
    return verb in DROPPED_VERBS or verb.startswith(PRIORITY_PREFIX)


class Action(StrEnum):
    """What a registration request asks for."""

    ENROLL = "enroll"
    DROP = "drop"
    SWITCH = "switch"


class RequestStatus(StrEnum):
    """A request is queued until decided, then accepted or rejected, once."""

    QUEUED = "queued"
    WAITING = "waiting"  # in a fair opening's waiting room: queued once it is released
    ACCEPTED = "accepted"
    REJECTED = "rejected"

    @classmethod
    def of(cls, accepted: bool) -> RequestStatus:
        return cls.ACCEPTED if accepted else cls.REJECTED


class SectionStatus(StrEnum):
    """Only an open section takes new students."""

    OPEN = "open"
    CLOSED = "closed"


@dataclass(frozen=True)
class Program:
    id: int
    grade_min: int
    grade_max: int
    student_capacity: int | None = None
    student_count: int = 0
    use_priority: bool = False
    priority_limit: int | None = None
    registration_opens_at: datetime | None = None
    registration_closes_at: datetime | None = None
    waitlist_limit_per_timeslot: int = 1  # waitlists a student may be on in one timeslot
    constraints: tuple[ScheduleConstraint, ...] = ()  # checked on the schedule a change leaves

    def is_open(self, when: datetime) -> bool:
        """Open from ``registration_opens_at`` to ``registration_closes_at``, both inclusive."""
        if self.registration_opens_at is not None and when < self.registration_opens_at:
            return False
        return not (self.registration_closes_at is not None and when > self.registration_closes_at)

    def has_room_for_new_student(self) -> bool:
        return self.student_capacity is None or self.student_count < self.student_capacity


@dataclass(frozen=True)
class Section:
    id: int
    class_id: int
    capacity: int
    enrolled: int
    timeslot_ids: frozenset[int]
    grade_min: int  # the class's grade range
    grade_max: int
    is_open: bool = True

    @property
    def is_full(self) -> bool:
        return self.enrolled >= self.capacity

    def conflicts_with(self, timeslot_ids: frozenset[int]) -> bool:
        """Two sections conflict when they share a timeslot."""
        return not self.timeslot_ids.isdisjoint(timeslot_ids)


@dataclass(frozen=True)
class Holding:
    """A section the student holds a seat in (an active ``Enrolled`` registration)."""

    section_id: int
    class_id: int
    timeslot_ids: frozenset[int]


@dataclass(frozen=True)
class PriorityPick:
    """A section the student chose as ``Priority/N`` (an active registration holding no seat)."""

    section_id: int
    class_id: int
    timeslot_ids: frozenset[int]
    level: int


@dataclass(frozen=True)
class Student:
    id: int
    profile_complete: bool
    grade: int | None
    in_program: bool
    holdings: tuple[Holding, ...] = field(default_factory=tuple)
    priorities: tuple[PriorityPick, ...] = field(default_factory=tuple)
    # Sections the student is on the waitlist of (an active ``Waitlisted`` registration).
    waitlisted: tuple[Holding, ...] = field(default_factory=tuple)

    def priority_for(self, timeslot_ids: frozenset[int]) -> int:
        """ESP's ``getRegistrationPriority`` for a section in ``timeslot_ids``: 0 when already
        enrolled in one of them, else the smallest level no overlapping pick uses."""
        enrolled = any(not timeslot_ids.isdisjoint(h.timeslot_ids) for h in self.holdings)
        used = {p.level for p in self.priorities if not timeslot_ids.isdisjoint(p.timeslot_ids)}
        return next_priority_level(enrolled, used)


def decision_partition(section_id: int, partitions: int) -> int:
    """All decisions for one section go through one partition, so they run one after another."""
    return section_id % partitions


def is_valid(start: datetime, end: datetime | None, when: datetime) -> bool:
    """A registration is valid at ``when`` if start ≤ when ≤ end; no end means open-ended."""
    return start <= when and (end is None or when <= end)


def priority_verb(level: int) -> str:
    return f"{PRIORITY_PREFIX}{level}"


def priority_level(verb: str) -> int | None:
    """``"Priority/3"`` → 3; anything else → None."""
    if not verb.startswith(PRIORITY_PREFIX):
        return None
    suffix = verb.removeprefix(PRIORITY_PREFIX)
    return int(suffix) if suffix.isdigit() and int(suffix) > 0 else None


def next_priority_level(enrolled_in_timeslots: bool, used_levels: set[int]) -> int:
    """0 when already enrolled in one of the timeslots, else the smallest unused level ≥ 1."""
    if enrolled_in_timeslots:
        return 0
    level = 1
    while level in used_levels:
        level += 1
    return level
