"""The decisions: may this student enroll in, drop, or switch to this section, and why not?"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from registration_service.domain.constraints import ScheduleConstraint, first_broken
from registration_service.domain.model import (
    ENROLLED,
    PRIORITY_PREFIX,
    WAITLISTED,
    Holding,
    Program,
    Section,
    Student,
    priority_verb,
)
from registration_service.domain.reasons import Reason, message_for


@dataclass(frozen=True)
class Decision:
    """Accepted with a verb (``Enrolled``, ``Waitlisted`` or ``Priority/N``), or rejected with a
    reason (and, for a broken schedule constraint, its label; for a priority past the program's
    limit, the limit)."""

    accepted: bool
    verb: str | None = None
    reason: Reason | None = None
    label: str | None = None

    @property
    def message(self) -> str:
        if self.reason is not None:
            return message_for(self.reason, self.label)
        if self.verb is not None and self.verb.startswith(PRIORITY_PREFIX):
            return f"You chose this section as priority {self.verb.removeprefix(PRIORITY_PREFIX)}."
        return (
            "You are waitlisted for this section."
            if self.verb == WAITLISTED
            else ("You are enrolled in this section.")
        )

    @classmethod
    def accept(cls, verb: str = ENROLLED) -> Decision:
        return cls(accepted=True, verb=verb)

    @classmethod
    def reject(cls, reason: Reason) -> Decision:
        return cls(accepted=False, reason=reason)

    @classmethod
    def breaking(cls, constraint: ScheduleConstraint) -> Decision:
        return cls(accepted=False, reason=Reason.CONSTRAINT_FAILED, label=constraint.label)


def takes_priority(program: Program, placed_by_admin: bool = False) -> bool:
    """A student's enroll in a priority program records a ``Priority/N`` choice, not a seat; an
    admin process (a lottery run's commit) places seats."""
    return program.use_priority and not placed_by_admin


def check_enroll(
    program: Program,
    section: Section,
    student: Student,
    when: datetime,
    *,
    waitlist: bool = False,
    replacing_section_id: int | None = None,
    placed_by_admin: bool = False,
    priority: bool = False,
) -> Decision:
    """Every rule for taking a seat, in the order a student can best act on.

    With ``priority`` (see :func:`takes_priority`) the request records a ``Priority/N`` choice
    instead: it holds no seat, so capacity, the program's head count, time conflicts among
    choices and the schedule constraints do not apply; N is the student's priority for the
    section's timeslots (0, already enrolled there, is a time conflict) and may not pass the
    program's ``priority_limit``.

    ``replacing_section_id`` is the section a switch gives up: its class and timeslots do not
    count against the new section. A request ``placed_by_admin`` (a lottery run's commit) is
    not bound by the registration window, which is the students'; every other rule holds.
    """
    if not placed_by_admin and not program.is_open(when):
        return Decision.reject(Reason.REGISTRATION_CLOSED)
    if not student.profile_complete:
        return Decision.reject(Reason.PROFILE_INCOMPLETE)
    if student.grade is None or not section.grade_min <= student.grade <= section.grade_max:
        return Decision.reject(Reason.GRADE_OUT_OF_RANGE)
    if not section.is_open:
        return Decision.reject(Reason.SECTION_CLOSED)
    kept = [h for h in student.holdings if h.section_id != replacing_section_id]
    if any(h.class_id == section.class_id for h in kept):
        return Decision.reject(Reason.ALREADY_IN_CLASS)
    if priority:
        return _check_priority(program, section, student)
    if any(section.conflicts_with(h.timeslot_ids) for h in kept):
        return Decision.reject(Reason.TIME_CONFLICT)
    if not student.in_program and not program.has_room_for_new_student():
        return Decision.reject(Reason.PROGRAM_FULL)
    if section.is_full:
        if not waitlist:
            return Decision.reject(Reason.SECTION_FULL)
        lines = waitlists_at(student, section)
        if lines >= program.waitlist_limit_per_timeslot:
            return Decision(False, reason=Reason.WAITLIST_LIMIT_REACHED, label=str(lines))
        return Decision.accept(WAITLISTED)
    # Only a seat changes the schedule (a place in line does not), so only now the constraints.
    added = Holding(section.id, section.class_id, section.timeslot_ids)
    broken = first_broken(program.constraints, (*kept, added))
    if broken is not None:
        return Decision.breaking(broken)
    return Decision.accept(ENROLLED)


def waitlists_at(student: Student, section: Section) -> int:
    """The most waitlists (of other sections) the student is on in one of the section's
    timeslots."""
    others = [h.timeslot_ids for h in student.waitlisted if h.section_id != section.id]
    return max((sum(t in slots for slots in others) for t in section.timeslot_ids), default=0)


def _check_priority(program: Program, section: Section, student: Student) -> Decision:
    if any(p.class_id == section.class_id for p in student.priorities):
        return Decision.reject(Reason.ALREADY_IN_CLASS)
    level = student.priority_for(section.timeslot_ids)
    if level == 0:
        return Decision.reject(Reason.TIME_CONFLICT)
    limit = program.priority_limit
    if limit is not None and level > limit:
        return Decision(accepted=False, reason=Reason.PRIORITY_LIMIT_REACHED, label=str(limit))
    return Decision.accept(priority_verb(level))


def check_switch(
    program: Program, from_section: Section, to_section: Section, student: Student, when: datetime
) -> Decision:
    """A switch stays within one class and needs a seat held in the section given up."""
    if from_section.class_id != to_section.class_id:
        return Decision.reject(Reason.DIFFERENT_CLASS)
    if not any(h.section_id == from_section.id for h in student.holdings):
        return Decision.reject(Reason.NOT_REGISTERED)
    return check_enroll(program, to_section, student, when, replacing_section_id=from_section.id)


def check_drop(
    program: Program,
    student_holds_registration: bool,
    when: datetime,
    *,
    placed_by_admin: bool = False,
    remaining: Sequence[Holding] | None = None,
) -> Decision:
    """A drop needs a registration to expire; only a student's own is bound by the window.

    ``remaining`` is the schedule the drop leaves when it gives up a seat (None: it gives up a
    place in line, which changes no schedule); a student's own drop must leave one that keeps
    the program's constraints. An admin process's drop (a lottery run's revert) undoes seats it
    placed, and is not held halfway by them.
    """
    if not placed_by_admin and not program.is_open(when):
        return Decision.reject(Reason.REGISTRATION_CLOSED)
    if not student_holds_registration:
        return Decision.reject(Reason.NOT_REGISTERED)
    if remaining is not None and not placed_by_admin:
        broken = first_broken(program.constraints, remaining)
        if broken is not None:
            return Decision.breaking(broken)
    return Decision.accept()
