"""What a batch of enroll requests needs to be decided, loaded with a few set-based queries.

The rush path decides hundreds of requests per transaction; loading each request's program,
section and student one by one would cost about twenty round trips per request. Here the whole
batch costs seven, each a statement built once (eight with schedule constraints). The batch's
sections and its students' program memberships are locked (``FOR UPDATE``, in id order) so
nothing but this transaction moves them until it commits; what another partition may still
change (a student's seats elsewhere, the program's head count) is guarded by the unique indexes
and the conditional program counter when the batch writes. A constraint spans sections of
several partitions, which no index can guard: the students of a program with constraints have
their schedules locked (in id order, after the memberships) before their seats are read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import BindParameter, bindparam, select
from sqlalchemy.orm import Session

from registration_service.adapters.models import (
    ClassRow,
    CompleteProfileRow,
    ProgramRow,
    ProgramStudentRow,
    RegistrationTypeRow,
    SectionRow,
    StudentRegistrationRow,
    section_timeslots,
)
from registration_service.domain.model import (
    PRIORITY_PREFIX,
    WAITLISTED,
    Holding,
    PriorityPick,
    Program,
    Section,
    SectionStatus,
    Student,
    priority_level,
)
from registration_service.use_cases.constraints import constraints_of, lock_schedules


@dataclass(frozen=True)
class QueuedEnroll:
    """An enroll request as the drainer read it from its partition's queue (``origin`` and
    ``starts_at``: see ``RegistrationRequestRow``)."""

    id: str
    program_id: int
    student_id: int
    section_id: int
    waitlist: bool
    origin: str | None = None
    starts_at: datetime | None = None
    correlation_id: str | None = None  # the submitting request's X-Request-ID

    @classmethod
    def of(cls, row: Any) -> QueuedEnroll:
        """From a row of the drainer's queue read."""
        return cls(
            row.id,
            row.program_id,
            row.student_id,
            row.section_id,
            row.waitlist,
            origin=row.origin,
            starts_at=row.starts_at,
            correlation_id=row.correlation_id,
        )


@dataclass
class BatchSnapshot:
    """Programs, sections and students as of the batch's start; the decider moves them along."""

    programs: dict[int, Program]
    sections: dict[int, Section]
    students: dict[tuple[int, int], Student]  # (program, student)
    # (student, section) -> id of the active Waitlisted registration
    waiting: dict[tuple[int, int], int] = field(default_factory=dict)


def _ids(name: str) -> BindParameter:
    return bindparam(name, expanding=True)


_programs = ProgramRow.__table__.c
_sections = SectionRow.__table__.c
_classes = ClassRow.__table__.c
_profiles = CompleteProfileRow.__table__.c
_members = ProgramStudentRow.__table__.c
_registrations = StudentRegistrationRow.__table__.c
_types = RegistrationTypeRow.__table__.c
_slots = section_timeslots.c

# Built once, run with lists of ids: the rush path pays neither statement construction nor
# cache-key generation per batch.
PROGRAMS = select(
    _programs.id,
    _programs.grade_min,
    _programs.grade_max,
    _programs.student_capacity,
    _programs.student_count,
    _programs.use_priority,
    _programs.priority_limit,
    _programs.registration_opens_at,
    _programs.registration_closes_at,
    _programs.waitlist_limit_per_timeslot,
).where(_programs.id.in_(_ids("programs")))
SECTIONS = (
    select(
        _sections.id,
        _sections.class_id,
        _sections.capacity,
        _sections.enrolled_count,
        _sections.status,
        _classes.grade_min,
        _classes.grade_max,
    )
    .join_from(SectionRow.__table__, ClassRow.__table__, _classes.id == _sections.class_id)
    .where(_sections.id.in_(_ids("sections")))
    .order_by(_sections.id)
    .with_for_update(of=SectionRow.__table__)
)
GRADES = select(_profiles.program_id, _profiles.student_id, _profiles.grade).where(
    _profiles.program_id.in_(_ids("programs")), _profiles.student_id.in_(_ids("students"))
)
MEMBERS = (
    select(_members.program_id, _members.student_id)
    .where(_members.program_id.in_(_ids("programs")), _members.student_id.in_(_ids("students")))
    .order_by(_members.program_id, _members.student_id)
    .with_for_update()  # a concurrent drop of a student's last seat waits for this batch
)
# Seats the students hold in the programs, and their places in line (any section: the waitlist
# limit counts them per timeslot): one query, told apart by holds_seat.
REGISTRATIONS = (
    select(
        _registrations.id,
        _registrations.program_id,
        _registrations.student_id,
        _registrations.section_id,
        _registrations.class_id,
        _registrations.holds_seat,
        _types.name.label("verb"),
    )
    .join_from(
        StudentRegistrationRow.__table__,
        RegistrationTypeRow.__table__,
        _types.id == _registrations.type_id,
    )
    .where(
        _registrations.student_id.in_(_ids("students")),
        _registrations.program_id.in_(_ids("programs")),
        _registrations.active.is_(True),
        _registrations.holds_seat.is_(True)
        | (_types.name == WAITLISTED)
        | _types.name.like(f"{PRIORITY_PREFIX}%"),  # a priority program's choices
    )
    .order_by(_registrations.id)
)
TIMESLOTS = select(_slots.section_id, _slots.timeslot_id).where(
    _slots.section_id.in_(_ids("sections"))
)


def load_batch_snapshot(session: Session, batch: Iterable[QueuedEnroll]) -> BatchSnapshot:
    batch = list(batch)
    ids = {
        "programs": sorted({r.program_id for r in batch}),
        "sections": sorted({r.section_id for r in batch}),
        "students": sorted({r.student_id for r in batch}),
    }
    run = session.connection().execute
    section_rows = run(SECTIONS, ids).all()
    members = set(run(MEMBERS, ids).tuples())
    # After the membership lock: a drop that gave up a student's place before it is counted.
    rules = constraints_of(session, ids["programs"])
    programs = {
        row.id: Program(**row._asdict(), constraints=rules.get(row.id, ()))
        for row in run(PROGRAMS, ids)
    }
    # Constraints read the schedules, and a priority program's levels the students' choices.
    locked = {p.id for p in programs.values() if p.use_priority} | set(rules)
    lock_schedules(session, (r.student_id for r in batch if r.program_id in locked))
    grades = {(p, s): grade for p, s, grade in run(GRADES, ids)}
    held, lines, picks, waiting = [], [], [], {}
    for row in run(REGISTRATIONS, ids):
        if row.holds_seat:
            held.append(row)
        elif row.verb != WAITLISTED:
            picks.append(row)
        else:
            lines.append(row)
            waiting.setdefault((row.student_id, row.section_id), row.id)
    slots: dict[int, set[int]] = defaultdict(set)
    wanted = sorted({*ids["sections"], *(row.section_id for row in (*held, *lines, *picks))})
    for section_id, timeslot_id in run(TIMESLOTS, {"sections": wanted}):
        slots[section_id].add(timeslot_id)

    holdings: dict[tuple[int, int], list[Holding]] = defaultdict(list)
    for row in held:
        holding = Holding(row.section_id, row.class_id, frozenset(slots[row.section_id]))
        holdings[row.program_id, row.student_id].append(holding)
    waitlisted: dict[tuple[int, int], dict[int, Holding]] = defaultdict(dict)
    for row in lines:
        line = Holding(row.section_id, row.class_id, frozenset(slots[row.section_id]))
        waitlisted[row.program_id, row.student_id].setdefault(row.section_id, line)
    priorities: dict[tuple[int, int], list[PriorityPick]] = defaultdict(list)
    for row in picks:
        if (level := priority_level(row.verb)) is not None:
            slots_of = frozenset(slots[row.section_id])
            pick = PriorityPick(row.section_id, row.class_id, slots_of, level)
            priorities[row.program_id, row.student_id].append(pick)
    students = {
        pair: Student(
            id=pair[1],
            profile_complete=pair in grades,
            grade=grades.get(pair),
            in_program=pair in members,
            holdings=tuple(holdings[pair]),
            waitlisted=tuple(waitlisted[pair].values()),
            priorities=tuple(priorities[pair]),
        )
        for pair in sorted({(r.program_id, r.student_id) for r in batch})
    }
    sections = {
        row.id: Section(
            id=row.id,
            class_id=row.class_id,
            capacity=row.capacity,
            enrolled=row.enrolled_count,
            timeslot_ids=frozenset(slots[row.id]),
            grade_min=row.grade_min,
            grade_max=row.grade_max,
            is_open=row.status == SectionStatus.OPEN,
        )
        for row in section_rows
    }
    return BatchSnapshot(programs, sections, students, waiting)
