"""Enroll, drop and switch against a real (SQLite) database."""

from datetime import timedelta

import pytest
from registration_service.adapters.models import (
    ProgramRow,
    SectionRow,
    StudentRegistrationRow,
    TimeslotOccupancyRow,
)
from registration_service.domain.errors import NotFound
from registration_service.domain.reasons import Reason
from registration_service.use_cases import queries
from registration_service.use_cases.decisions import drop, enroll, switch
from registration_testkit import T0
from sqlalchemy import select


def seats(session, section_id):
    return session.get(SectionRow, section_id, populate_existing=True).enrolled_count


def test_enroll_takes_a_seat_and_occupies_the_timeslots(session, build):
    program = build.program()
    section = build.section(program, [build.timeslot(program, 0), build.timeslot(program, 1)])
    build.complete_profile(program, 5)
    outcome = enroll(session, student_id=5, section_id=section)
    assert outcome.decision.accepted and outcome.decision.verb == "Enrolled"
    assert seats(session, section) == 1
    assert queries.section_students(session, section) == [5]
    assert len(session.scalars(select(TimeslotOccupancyRow)).all()) == 2
    assert session.get(ProgramRow, program, populate_existing=True).student_count == 1


def test_a_section_fills_and_then_refuses(session, build):
    program = build.program()
    section = build.section(program, [build.timeslot(program)], capacity=2)
    results = []
    for student in (1, 2, 3):
        build.complete_profile(program, student)
        results.append(enroll(session, student_id=student, section_id=section).decision.reason)
    assert results == [None, None, Reason.SECTION_FULL]
    assert seats(session, section) == 2


def test_profile_and_grade_are_read_from_the_profile_read_model(session, build):
    program = build.program()
    section = build.section(program, [build.timeslot(program)], grades=(9, 10))
    assert (
        enroll(session, student_id=1, section_id=section).decision.reason
        is Reason.PROFILE_INCOMPLETE
    )
    build.complete_profile(program, 1, grade=11)
    assert (
        enroll(session, student_id=1, section_id=section).decision.reason
        is Reason.GRADE_OUT_OF_RANGE
    )
    build.complete_profile(program, 1, grade=10)
    assert enroll(session, student_id=1, section_id=section).decision.accepted


def test_time_conflicts_and_one_section_per_class(session, build):
    program = build.program()
    slot = build.timeslot(program)
    first, second_of_same_class = build.sections_of_one_class(
        program, [[slot], [build.timeslot(program, 1)]]
    )
    other_class_same_slot = build.section(program, [slot])
    build.complete_profile(program, 1)
    assert enroll(session, student_id=1, section_id=first).decision.accepted
    assert (
        enroll(session, student_id=1, section_id=second_of_same_class).decision.reason
        is Reason.ALREADY_IN_CLASS
    )
    assert (
        enroll(session, student_id=1, section_id=other_class_same_slot).decision.reason
        is Reason.TIME_CONFLICT
    )


def test_program_capacity_counts_students_not_seats(session, build):
    program = build.program(student_capacity=1)
    a = build.section(program, [build.timeslot(program, 0)])
    b = build.section(program, [build.timeslot(program, 1)])
    for student in (1, 2):
        build.complete_profile(program, student)
    assert enroll(session, student_id=1, section_id=a).decision.accepted
    assert enroll(session, student_id=1, section_id=b).decision.accepted  # already in the program
    assert enroll(session, student_id=2, section_id=a).decision.reason is Reason.PROGRAM_FULL
    drop(session, student_id=1, section_id=a)
    drop(session, student_id=1, section_id=b)
    assert session.get(ProgramRow, program, populate_existing=True).student_count == 0
    assert enroll(session, student_id=2, section_id=a).decision.accepted


def test_registration_window(session, build):
    program = build.program(
        registration_opens_at=T0, registration_closes_at=T0 + timedelta(hours=1)
    )
    section = build.section(program, [build.timeslot(program)])
    build.complete_profile(program, 1)
    early = enroll(session, student_id=1, section_id=section, when=T0 - timedelta(seconds=1))
    assert early.decision.reason is Reason.REGISTRATION_CLOSED
    assert enroll(session, student_id=1, section_id=section, when=T0).decision.accepted


def test_drop_expires_keeps_history_and_frees_the_seat(session, build):
    program = build.program()
    slot = build.timeslot(program)
    section = build.section(program, [slot], capacity=1)
    build.complete_profile(program, 1)
    enroll(session, student_id=1, section_id=section, when=T0)
    dropped = drop(session, student_id=1, section_id=section, when=T0 + timedelta(hours=1))
    assert dropped.decision.accepted
    assert seats(session, section) == 0
    row = session.scalars(select(StudentRegistrationRow)).one()
    assert (row.active, row.holds_seat, row.end_date) == (False, False, T0 + timedelta(hours=1))
    # Valid at the drop instant (end is inclusive), gone a moment later.
    at_drop = queries.section_students(session, section, when=T0 + timedelta(hours=1))
    after = queries.section_students(session, section, when=T0 + timedelta(hours=1, microseconds=1))
    assert (at_drop, after) == ([1], [])
    assert queries.student_sections(session, program, 1, valid_only=False) == [
        queries.StudentSection(section, row.class_id, "Enrolled")
    ]
    assert drop(session, student_id=1, section_id=section).decision.reason is Reason.NOT_REGISTERED
    # The timeslot is free again.
    other = build.section(program, [slot])
    assert enroll(session, student_id=1, section_id=other).decision.accepted


def test_waitlist_is_promoted_first_come_first_served(session, build):
    program = build.program()
    section = build.section(program, [build.timeslot(program)], capacity=1)
    for student in (1, 2, 3):
        build.complete_profile(program, student)
    enroll(session, student_id=1, section_id=section, when=T0)
    assert (
        enroll(session, student_id=2, section_id=section, waitlist=True, when=T0).decision.verb
        == "Waitlisted"
    )
    assert (
        enroll(session, student_id=3, section_id=section, waitlist=True, when=T0).decision.verb
        == "Waitlisted"
    )
    again = enroll(session, student_id=2, section_id=section, waitlist=True, when=T0)
    assert again.decision.verb == "Waitlisted"  # no second place in line
    outcome = drop(session, student_id=1, section_id=section, when=T0 + timedelta(minutes=1))
    assert outcome.promoted_student_ids == (2,)
    later = T0 + timedelta(minutes=2)
    assert queries.section_students(session, section, when=later) == [2]
    assert queries.section_students(session, section, ["Waitlisted"], when=later) == [3]
    assert seats(session, section) == 1


def test_switch_is_all_or_nothing(session, build):
    program = build.program()
    slot = build.timeslot(program)
    a, b, full = build.sections_of_one_class(program, [[slot], [slot], [slot]], capacity=1)
    other_class = build.section(program, [build.timeslot(program, 1)])
    for student in (1, 2):
        build.complete_profile(program, student)
    enroll(session, student_id=2, section_id=full)
    enroll(session, student_id=1, section_id=a)
    # Same timeslot is fine: the section given up does not conflict with its replacement.
    assert switch(session, student_id=1, from_section_id=a, to_section_id=b).decision.accepted
    assert [s.section_id for s in queries.student_sections(session, program, 1)] == [b]
    assert (seats(session, a), seats(session, b)) == (0, 1)
    refused = switch(session, student_id=1, from_section_id=b, to_section_id=full)
    assert refused.decision.reason is Reason.SECTION_FULL
    assert [s.section_id for s in queries.student_sections(session, program, 1)] == [b]
    assert seats(session, b) == 1
    wrong = switch(session, student_id=1, from_section_id=b, to_section_id=other_class)
    assert wrong.decision.reason is Reason.DIFFERENT_CLASS
    missing = switch(session, student_id=1, from_section_id=a, to_section_id=b)
    assert missing.decision.reason is Reason.NOT_REGISTERED


def test_unknown_section_is_not_found(session):
    with pytest.raises(NotFound):
        enroll(session, student_id=1, section_id=999)
