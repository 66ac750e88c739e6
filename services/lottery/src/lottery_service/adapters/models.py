"""Tables of the lottery service.

- The catalog (programs, timeslots, classes, sections) and students' grades are read models,
  learnt from the registration and profile services' events; ids are theirs.
- Stars are expirable: unstarring ends one, starring again starts a new one, so the history of
  a student's interest is kept. One active star per (student, class) is a partial unique index.
- Priorities are a student's ranked classes per timeslot, replaced as a whole.
- A run's assignments are stored with what the registration service decided for each, once the
  run is committed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from servicekit.db import UtcDateTime
from servicekit.outbox import define_outbox_table
from sqlalchemy import JSON, ForeignKey, Index, MetaData, String, Text, UniqueConstraint, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


# --- read models: the catalog and grades, from other services' events ----------------------------
class ProgramRow(Base):
    __tablename__ = "programs"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(200))
    grade_min: Mapped[int]
    grade_max: Mapped[int]
    student_capacity: Mapped[int | None]
    priority_limit: Mapped[int | None]


class TimeslotRow(Base):
    __tablename__ = "timeslots"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    program_id: Mapped[int] = mapped_column(index=True)
    start: Mapped[datetime] = mapped_column(UtcDateTime())
    end: Mapped[datetime] = mapped_column(UtcDateTime())


class ClassRow(Base):
    __tablename__ = "classes"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    program_id: Mapped[int] = mapped_column(index=True)
    title: Mapped[str] = mapped_column(String(300))
    grade_min: Mapped[int]
    grade_max: Mapped[int]


class SectionRow(Base):
    __tablename__ = "sections"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"), index=True)
    program_id: Mapped[int] = mapped_column(index=True)
    capacity: Mapped[int]
    # In time order: the first is where the section starts (what a priority names).
    timeslot_ids: Mapped[list[int]] = mapped_column(JSON)
    first_timeslot_id: Mapped[int]


class ProgramConstraintsRow(Base):
    """A program's schedule constraints, as registration last announced them: each
    ``{id, label, condition, requirement}`` (JSON expressions), so a run assigns what
    registration will accept."""

    __tablename__ = "program_constraints"

    program_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    constraints: Mapped[list[dict[str, Any]]] = mapped_column(JSON)


class StudentGradeRow(Base):
    """A student whose profile for the program is complete, with the grade it gives."""

    __tablename__ = "student_grades"

    program_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    student_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    grade: Mapped[int]


class ProcessedEventRow(Base):
    """Events already applied (consumers drop duplicates by id)."""

    __tablename__ = "processed_events"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


# --- what this service owns: interest, and the lottery runs --------------------------------------
class StarRow(Base):
    """ESP's ``StudentSubjectInterest``: a student starred a class, from ``start_date`` until
    ``end_date`` (null while it stands)."""

    __tablename__ = "stars"
    __table_args__ = (
        Index(
            "uq_stars_active",
            "student_id",
            "class_id",
            unique=True,
            sqlite_where=text("end_date IS NULL"),
            postgresql_where=text("end_date IS NULL"),
        ),
        Index("ix_stars_program_class", "program_id", "class_id"),
        Index("ix_stars_program_student", "program_id", "student_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int]
    student_id: Mapped[int]
    class_id: Mapped[int]
    start_date: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    end_date: Mapped[datetime | None] = mapped_column(UtcDateTime())


class PriorityRow(Base):
    """The class a student ranked ``rank`` (1 = first choice) for a timeslot."""

    __tablename__ = "priorities"
    __table_args__ = (
        UniqueConstraint("program_id", "student_id", "timeslot_id", "class_id"),
        Index("ix_priorities_program_student", "program_id", "student_id"),
    )

    program_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    student_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    timeslot_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    rank: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    class_id: Mapped[int]


class StudentCapRow(Base):
    """Optional limits on what one student may be given in a program's lottery."""

    __tablename__ = "student_caps"

    program_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    student_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    max_sections: Mapped[int | None]
    max_timeslots: Mapped[int | None]


class LotteryRunRow(Base):
    """One lottery run: queued, running, done or failed; then committing, committed, reverting,
    reverted. ``attempt`` counts the workers that claimed it: only the latest may finish it."""

    __tablename__ = "lottery_runs"
    __table_args__ = (Index("ix_lottery_runs_program_status", "program_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int]
    seed: Mapped[int]
    time_limit_seconds: Mapped[float]
    status: Mapped[str] = mapped_column(String(20))
    phase: Mapped[str | None] = mapped_column(String(40))
    attempt: Mapped[int] = mapped_column(default=0, server_default="0")
    stats: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    enqueued_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # The one start_date every registration of this run gets: how a revert finds them.
    committed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    reverted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class AssignmentRow(Base):
    """A section the run gave a student; after a commit, what registration decided for it
    (``outcome`` pending/accepted/rejected) and, after a revert, whether it was dropped."""

    __tablename__ = "lottery_assignments"

    run_id: Mapped[int] = mapped_column(
        ForeignKey("lottery_runs.id"), primary_key=True, autoincrement=False
    )
    student_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    section_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    outcome: Mapped[str | None] = mapped_column(String(10))
    reason: Mapped[str | None] = mapped_column(String(40))
    revert_outcome: Mapped[str | None] = mapped_column(String(10))
    revert_reason: Mapped[str | None] = mapped_column(String(40))


outbox = define_outbox_table(Base.metadata)
