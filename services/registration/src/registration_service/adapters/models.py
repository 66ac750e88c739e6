"""Tables of the registration service. The constraints here are the guarantees, not the code:

- a section's ``enrolled_count`` never leaves ``0..capacity`` (CHECK, moved by conditional
  UPDATEs only);
- a program's ``student_count`` never exceeds ``student_capacity`` (CHECK);
- one active seat per (student, class) and one active occupancy per (student, timeslot)
  (partial unique indexes, SQLite and PostgreSQL alike).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from servicekit.db import UtcDateTime
from servicekit.outbox import define_outbox_table
from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Column,
    ForeignKey,
    Index,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from registration_service.domain.model import RequestStatus, SectionStatus

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


class ProgramRow(Base):
    __tablename__ = "programs"
    __table_args__ = (
        CheckConstraint("grade_min <= grade_max", name="grade_range"),
        CheckConstraint(
            "student_capacity IS NULL OR student_count <= student_capacity", name="student_capacity"
        ),
        CheckConstraint("student_count >= 0", name="student_count_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    grade_min: Mapped[int]
    grade_max: Mapped[int]
    student_capacity: Mapped[int | None]
    student_count: Mapped[int] = mapped_column(default=0, server_default="0")
    use_priority: Mapped[bool] = mapped_column(default=False)
    priority_limit: Mapped[int | None]
    registration_opens_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    registration_closes_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Fair opening: requests arriving before opens_at + W wait, then go in a drawn order.
    opening_window_seconds: Mapped[int | None]
    waitlist_limit_per_timeslot: Mapped[int] = mapped_column(default=1, server_default="1")
    # Where the program happens (an IANA name): pages show its times there.
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class TimeslotRow(Base):
    __tablename__ = "timeslots"
    __table_args__ = (CheckConstraint('"start" < "end"', name="ordered"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    start: Mapped[datetime] = mapped_column(UtcDateTime())
    end: Mapped[datetime] = mapped_column(UtcDateTime())


section_timeslots = Table(
    "section_timeslots",
    Base.metadata,
    Column("section_id", ForeignKey("sections.id"), primary_key=True),
    Column("timeslot_id", ForeignKey("timeslots.id"), primary_key=True, index=True),
)


class ClassRow(Base):
    __tablename__ = "classes"
    __table_args__ = (CheckConstraint("grade_min <= grade_max", name="grade_range"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    title: Mapped[str] = mapped_column(String(300))
    grade_min: Mapped[int]
    grade_max: Mapped[int]
    sections: Mapped[list[SectionRow]] = relationship(
        back_populates="class_", order_by="SectionRow.id"
    )


class SectionRow(Base):
    __tablename__ = "sections"
    __table_args__ = (
        CheckConstraint("capacity >= 0", name="capacity_nonnegative"),
        CheckConstraint("enrolled_count >= 0 AND enrolled_count <= capacity", name="seats"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"), index=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    capacity: Mapped[int]
    enrolled_count: Mapped[int] = mapped_column(default=0, server_default="0")
    status: Mapped[str] = mapped_column(
        String(20), default=SectionStatus.OPEN, server_default=SectionStatus.OPEN.value
    )
    class_: Mapped[ClassRow] = relationship(back_populates="sections")
    timeslots: Mapped[list[TimeslotRow]] = relationship(
        secondary=section_timeslots, order_by="TimeslotRow.id"
    )


class RegistrationTypeRow(Base):
    __tablename__ = "registration_types"
    __table_args__ = (UniqueConstraint("name", "category"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(128), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(32))


class StudentRegistrationRow(Base):
    """One student's registration of one verb in one section; expired, never deleted.

    ``active`` is true until a drop or switch expires the row; ``holds_seat`` is true while an
    active ``Enrolled`` row counts in its section's ``enrolled_count``.
    """

    __tablename__ = "student_registrations"
    __table_args__ = (
        Index(
            "uq_active_class_seat",
            "student_id",
            "class_id",
            unique=True,
            sqlite_where=text("holds_seat"),
            postgresql_where=text("holds_seat"),
        ),
        Index(
            "uq_active_registration",
            "student_id",
            "section_id",
            "type_id",
            unique=True,
            sqlite_where=text("active"),
            postgresql_where=text("active"),
        ),
        Index("ix_student_registrations_program_student", "program_id", "student_id"),
        Index("ix_student_registrations_section_active", "section_id", "active"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    class_id: Mapped[int] = mapped_column(ForeignKey("classes.id"))
    section_id: Mapped[int] = mapped_column(ForeignKey("sections.id"))
    student_id: Mapped[int] = mapped_column(index=True)
    type_id: Mapped[int] = mapped_column(ForeignKey("registration_types.id"))
    start_date: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    end_date: Mapped[datetime | None] = mapped_column(UtcDateTime())
    active: Mapped[bool] = mapped_column(default=True)
    holds_seat: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    type: Mapped[RegistrationTypeRow] = relationship(lazy="joined")


class TimeslotOccupancyRow(Base):
    """A student occupying a timeslot through a seat; released, not deleted, on drop."""

    __tablename__ = "timeslot_occupancies"
    __table_args__ = (
        Index(
            "uq_active_timeslot_occupancy",
            "student_id",
            "timeslot_id",
            unique=True,
            sqlite_where=text("released_at IS NULL"),
            postgresql_where=text("released_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int]
    timeslot_id: Mapped[int] = mapped_column(ForeignKey("timeslots.id"))
    registration_id: Mapped[int] = mapped_column(ForeignKey("student_registrations.id"), index=True)
    released_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class ProgramStudentRow(Base):
    """A student counted against the program's student capacity (holds at least one seat)."""

    __tablename__ = "program_students"

    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), primary_key=True)
    student_id: Mapped[int] = mapped_column(primary_key=True)


class CompleteProfileRow(Base):
    """Read model: students whose profile for a program is complete, with their grade.

    Filled from ``profile.profile.completed.v1`` events; the request path reads only this.
    """

    __tablename__ = "complete_profiles"

    program_id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int] = mapped_column(primary_key=True)
    grade: Mapped[int]
    event_id: Mapped[str] = mapped_column(String(64))
    completed_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


outbox = define_outbox_table(Base.metadata)


class RegistrationRequestRow(Base):
    """A student's request, persisted before the 202 so that it ends in exactly one outcome.

    ``decision_partition`` is the queue its section's decisions drain through; a drainer takes
    the partition's queued rows oldest first (``created_at``: when the web received it).
    ``enqueued_at`` is when it was stored or last swept; the sweeper rings the partition again
    when a request stays ``queued`` too long (the broker may lose a message, the system may
    not).

    ``origin`` names the admin process that placed a request for the student (``lottery-run:17``,
    ``lottery-revert:17``); None for the student's own. ``starts_at``, when set, is the start
    date of the registration an enroll writes, and the one a drop expires.

    ``correlation_id`` is the id of the web request that submitted it (its ``X-Request-ID``), or
    of the lottery event that placed it; its outcome event and the decision's log line carry it.
    """

    __tablename__ = "registration_requests"
    __table_args__ = (
        UniqueConstraint("student_id", "idempotency_key"),
        Index("ix_registration_requests_queued", "status", "enqueued_at"),
        Index(
            "ix_registration_requests_partition_queue",
            "decision_partition",
            "created_at",
            "id",
            sqlite_where=text("status = 'queued'"),
            postgresql_where=text("status = 'queued'"),
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"))
    student_id: Mapped[int] = mapped_column(index=True)
    action: Mapped[str] = mapped_column(String(10))
    section_id: Mapped[int]
    from_section_id: Mapped[int | None]
    waitlist: Mapped[bool] = mapped_column(default=False)
    decision_partition: Mapped[int] = mapped_column(default=0, server_default="0")
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(10), default=RequestStatus.QUEUED)
    reason: Mapped[str | None] = mapped_column(String(40))
    message: Mapped[str | None] = mapped_column(Text)
    verb: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    enqueued_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    origin: Mapped[str | None] = mapped_column(String(64))
    starts_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    correlation_id: Mapped[str | None] = mapped_column(String(64))


class OpeningRow(Base):
    """A program's fair opening: the seed drawn when its waiting room was released, and the
    order of the students it gave (see :mod:`registration_service.use_cases.opening`)."""

    __tablename__ = "openings"

    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), primary_key=True)
    seed: Mapped[int | None] = mapped_column(BigInteger)
    released_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    student_order: Mapped[list[int]] = mapped_column(JSON(), default=list)


class ProcessedEventRow(Base):
    """Events already applied by this service's consumers (they drop duplicates by id)."""

    __tablename__ = "processed_events"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class ScheduleConstraintRow(Base):
    """An organiser's rule on students' schedules: when ``condition`` holds (NULL: always),
    ``requirement`` must hold too (see :mod:`registration_service.domain.constraints`). The
    expressions are stored as the JSON they were checked as, and parsed again when read."""

    __tablename__ = "schedule_constraints"

    id: Mapped[int] = mapped_column(primary_key=True)
    program_id: Mapped[int] = mapped_column(ForeignKey("programs.id"), index=True)
    label: Mapped[str] = mapped_column(String(200))
    condition: Mapped[dict[str, Any] | None] = mapped_column(JSON(none_as_null=True))
    requirement: Mapped[dict[str, Any]] = mapped_column(JSON())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
