"""Benchmark (b), the ESP Website's synchronous path, frozen: per request, one ORM transaction
that locks the section row, checks the rules with ORM queries, inserts and answers.

It models the design, not our code: it calls none of the registration service's use cases, so
the ratio pipeline / sync measures the architecture and does not move when the pipeline's
decision code gets faster. It writes the same tables (and so meets the same CHECKs and unique
indexes) so that the benchmark's database checks apply to it too.
"""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Flask, jsonify, request
from registration_service.adapters.db import make_session_factory
from registration_service.adapters.models import (
    CompleteProfileRow,
    ProgramRow,
    ProgramStudentRow,
    RegistrationTypeRow,
    SectionRow,
    StudentRegistrationRow,
    TimeslotOccupancyRow,
)
from registration_service.settings import RegistrationSettings
from servicekit.auth import KeySet, TokenVerifier
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session


def esp_enroll(session: Session, program_id: int, student_id: int, section_id: int) -> str | None:
    """The reason the enroll is refused, or None once it is recorded (ESP's preregister)."""
    now = datetime.now(UTC)
    section = session.get(SectionRow, section_id, with_for_update=True)
    program = session.get(ProgramRow, program_id)
    if section is None or program is None or section.program_id != program_id:
        return "not_found"
    opens, closes = program.registration_opens_at, program.registration_closes_at
    if (opens and now < opens) or (closes and now > closes):
        return "registration_closed"
    profile = session.get(CompleteProfileRow, (program_id, student_id))
    if profile is None:
        return "profile_incomplete"
    class_ = section.class_
    if not class_.grade_min <= profile.grade <= class_.grade_max:
        return "grade_out_of_range"
    if section.status != "open":
        return "section_closed"
    mine = select(StudentRegistrationRow).where(
        StudentRegistrationRow.student_id == student_id,
        StudentRegistrationRow.active.is_(True),
        StudentRegistrationRow.holds_seat.is_(True),
    )
    if session.scalars(mine.where(StudentRegistrationRow.class_id == class_.id)).first():
        return "already_in_class"
    wanted = {timeslot.id for timeslot in section.timeslots}
    busy = session.scalars(
        select(TimeslotOccupancyRow.timeslot_id).where(
            TimeslotOccupancyRow.student_id == student_id,
            TimeslotOccupancyRow.released_at.is_(None),
        )
    ).all()
    if wanted & set(busy):
        return "time_conflict"
    enrolled = session.scalar(
        select(func.count())
        .select_from(StudentRegistrationRow)
        .where(
            StudentRegistrationRow.section_id == section_id,
            StudentRegistrationRow.active.is_(True),
            StudentRegistrationRow.holds_seat.is_(True),
        )
    )
    if enrolled >= section.capacity:
        return "section_full"
    if session.get(ProgramStudentRow, (program_id, student_id)) is None:
        program_row = session.get(ProgramRow, program_id, with_for_update=True)
        capacity = program_row.student_capacity
        if capacity is not None and program_row.student_count >= capacity:
            return "program_full"
        program_row.student_count += 1
        session.add(ProgramStudentRow(program_id=program_id, student_id=student_id))
    enrolled_type = session.scalars(
        select(RegistrationTypeRow).where(
            RegistrationTypeRow.name == "Enrolled", RegistrationTypeRow.category == "student"
        )
    ).one()
    registration = StudentRegistrationRow(
        program_id=program_id,
        class_id=class_.id,
        section_id=section_id,
        student_id=student_id,
        type_id=enrolled_type.id,
        start_date=now,
        active=True,
        holds_seat=True,
    )
    session.add(registration)
    session.flush()
    for timeslot_id in sorted(wanted):
        session.add(
            TimeslotOccupancyRow(
                student_id=student_id, timeslot_id=timeslot_id, registration_id=registration.id
            )
        )
    section.enrolled_count += 1
    return None


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def create_app() -> Flask:
    settings = RegistrationSettings()
    _engine, sessions = make_session_factory(settings.database_url, pool_size=20, max_overflow=20)
    keys = KeySet.from_settings(settings.jwt_jwks_url, settings.jwt_jwks, settings.jwt_jwks_file)
    verifier = TokenVerifier(keys, settings.jwt_issuer, settings.jwt_audience)
    web = Flask(__name__)
    web.get("/healthz")(lambda: {"status": "ok"})

    @web.post("/v1/programs/<int:program_id>/registration-requests")
    def decide_now(program_id: int):
        verifier.verify_header(request.headers.get("Authorization"))
        body = request.get_json()
        try:
            with sessions() as session, session.begin():
                reason = esp_enroll(session, program_id, body["student_id"], body["section_id"])
                if reason is not None:
                    raise _Refused(reason)  # rolls the transaction back
        except _Refused as refused:
            reason = refused.reason
        except IntegrityError:  # the same student's other section took the timeslot first
            reason = "time_conflict"
        return jsonify(status="rejected" if reason else "accepted", reason=reason), 200

    return web
