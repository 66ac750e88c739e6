"""Tables of the profile service: profiles, the programs it has heard of, applied events."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from servicekit.db import UtcDateTime
from servicekit.outbox import define_outbox_table
from sqlalchemy import JSON, Index, MetaData, String, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData()


class ProfileRow(Base):
    """One student's profile for one program. Rows are never shared between programs, so
    saving this year's profile leaves last year's as it was."""

    __tablename__ = "profiles"
    __table_args__ = (
        UniqueConstraint("student_id", "program_id", name="uq_profiles_student_program"),
        Index("ix_profiles_student_updated", "student_id", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[int]
    program_id: Mapped[int]
    complete: Mapped[bool] = mapped_column(default=False)
    graduation_year: Mapped[int | None]
    document: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class KnownProgramRow(Base):
    """Programs announced by the registration service's catalog events."""

    __tablename__ = "known_programs"

    program_id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # Grades for this program are as of this day (registration opening when announced), so a
    # student's grade in a program does not change when the school year rolls over.
    grades_as_of: Mapped[date | None]
    event_id: Mapped[str] = mapped_column(String(64))


class ProcessedEventRow(Base):
    """Events already applied (consumers drop duplicates by id)."""

    __tablename__ = "processed_events"

    event_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


outbox = define_outbox_table(Base.metadata)
