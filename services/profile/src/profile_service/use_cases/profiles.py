"""Read, draft and save profiles; a save stages its completion event in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from servicekit.events import Event
from servicekit.outbox import add_to_outbox
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from profile_service import events
from profile_service.adapters.models import KnownProgramRow, ProfileRow, outbox
from profile_service.domain.errors import InvalidInput
from profile_service.domain.grades import Rollover, grade_for, graduation_year_for, school_year
from profile_service.domain.profile import Document, draft_from, missing_fields
from profile_service.use_cases.programs import require_program


@dataclass(frozen=True)
class ProfileView:
    """A saved profile (``id`` set) or an unsaved draft (``id`` None)."""

    id: int | None
    student_id: int
    program_id: int
    document: Document
    grade: int | None
    missing_fields: list[str]
    updated_at: datetime | None

    @property
    def complete(self) -> bool:
        return self.id is not None and not self.missing_fields


@dataclass(frozen=True)
class GradeClock:
    """Turns graduation years into grades for one program (ESP-style school years)."""

    rollover: Rollover
    today: date

    def as_of(self, program: KnownProgramRow) -> date:
        return program.grades_as_of or self.today

    def grade(self, program: KnownProgramRow, graduation_year: int | None) -> int | None:
        if graduation_year is None:
            return None
        return grade_for(graduation_year, self.as_of(program), self.rollover)


def get_profile(
    session: Session, program_id: int, student_id: int, clock: GradeClock
) -> ProfileView:
    """The saved profile, else a draft copied from the student's latest profile, else blank."""
    program = require_program(session, program_id)
    row = _row(session, program_id, student_id)
    if row is not None:
        return _view(row, program, clock)
    latest = session.scalars(
        select(ProfileRow)
        .where(ProfileRow.student_id == student_id)
        .order_by(ProfileRow.updated_at.desc(), ProfileRow.id.desc())
        .limit(1)
    ).first()
    draft = draft_from(latest.document if latest else None)
    return ProfileView(
        id=None,
        student_id=student_id,
        program_id=program_id,
        document=draft,
        grade=clock.grade(program, draft.get("graduation_year")),
        missing_fields=missing_fields(draft),
        updated_at=None,
    )


def save_profile(
    session: Session, program_id: int, student_id: int, given: Document, clock: GradeClock
) -> ProfileView:
    """Replace this program's profile with ``given`` (validated fields, JSON-ready).

    When it is complete, ``profile.profile.completed.v1`` carries the student's grade to the
    registration service; when a complete profile loses a required field,
    ``profile.profile.reopened.v1`` withdraws it.
    """
    program = require_program(session, program_id)
    document = _with_graduation_year(given, clock.as_of(program), clock.rollover)
    row = _row(session, program_id, student_id, for_update=True)
    if row is None:
        row = _insert(session, program_id, student_id)
    was_complete = row.complete
    missing = missing_fields(document)
    row.document = document
    row.graduation_year = document.get("graduation_year")
    row.complete = not missing
    row.updated_at = datetime.now(UTC)
    session.flush()
    view = _view(row, program, clock)
    if row.complete:
        _publish(session, events.profile_completed.event(_completed(view, clock, program)))
    elif was_complete:
        reopened = {"program_id": program_id, "student_id": student_id}
        _publish(session, events.profile_reopened.event(reopened))
    return view


def announce_profiles(session: Session, clock: GradeClock) -> tuple[int, int]:
    """Stage every saved profile's state again, for a consumer that missed events older than
    the streams' retention (or a rebuilt read model): ``profile.profile.completed.v1`` for each
    complete profile (its grade as of now, as a save would), ``profile.profile.reopened.v1``
    for each incomplete one (it may have been complete once). Consumers upsert and delete by
    (program, student), so running it twice, or with a new event id, changes nothing more.
    Profiles of programs not known here are skipped. (completed, reopened) staged."""
    programs = {p.program_id: p for p in session.scalars(select(KnownProgramRow))}
    completed = reopened = 0
    for row in session.scalars(select(ProfileRow).order_by(ProfileRow.id)):
        program = programs.get(row.program_id)
        if program is None:
            continue
        view = _view(row, program, clock)
        if view.complete:
            _publish(session, events.profile_completed.event(_completed(view, clock, program)))
            completed += 1
        else:
            withdrawn = {"program_id": row.program_id, "student_id": row.student_id}
            _publish(session, events.profile_reopened.event(withdrawn))
            reopened += 1
    return completed, reopened


def _with_graduation_year(given: Document, as_of: date, rollover: Rollover) -> Document:
    """Students may give a grade or a graduation year; the profile stores the year."""
    document = dict(given)
    grade = document.pop("grade", None)
    if grade is None:
        return document
    from_grade = graduation_year_for(grade, as_of, rollover)
    year = document.get("graduation_year")
    if year is not None and year != from_grade:
        raise InvalidInput(
            {"grade": [f"Grade {grade} does not match graduation year {year}; give one of them."]}
        )
    document["graduation_year"] = from_grade
    return document


def _row(
    session: Session, program_id: int, student_id: int, *, for_update: bool = False
) -> ProfileRow | None:
    query = select(ProfileRow).where(
        ProfileRow.program_id == program_id, ProfileRow.student_id == student_id
    )
    if for_update:
        query = query.with_for_update()
    return session.scalars(query).one_or_none()


def _insert(session: Session, program_id: int, student_id: int) -> ProfileRow:
    """A new row; when a concurrent save of the same profile inserted first, that row."""
    row = ProfileRow(program_id=program_id, student_id=student_id, document={})
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        existing = _row(session, program_id, student_id, for_update=True)
        if existing is None:
            raise
        return existing
    return row


def _view(row: ProfileRow, program: KnownProgramRow, clock: GradeClock) -> ProfileView:
    return ProfileView(
        id=row.id,
        student_id=row.student_id,
        program_id=row.program_id,
        document=row.document,
        grade=clock.grade(program, row.graduation_year),
        missing_fields=missing_fields(row.document),
        updated_at=row.updated_at,
    )


def _completed(view: ProfileView, clock: GradeClock, program: KnownProgramRow) -> dict[str, Any]:
    """The fields of ``profile.profile.completed.v1`` (see ``events.ProfileCompletedPayload``)."""
    graduation_year = view.document["graduation_year"]
    return {
        "profile_id": view.id,
        "program_id": view.program_id,
        "student_id": view.student_id,
        "grade": view.grade,
        "graduation_year": graduation_year,
        "school_year": school_year(clock.as_of(program), clock.rollover),
    }


def _publish(session: Session, event: Event) -> None:
    add_to_outbox(session, outbox, events.PROFILES_STREAM, event)
