"""Schedule constraints under real concurrency, on a real PostgreSQL server: one student's
changes decided at the same moment in two partitions never together break a rule."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime

import pytest
from registration_service.adapters.db import make_session_factory
from registration_service.adapters.models import RegistrationRequestRow
from registration_service.domain.reasons import Reason
from registration_service.migrate import upgrade
from registration_service.use_cases import requests
from registration_service.use_cases.batch_decisions import decide_enrollments
from registration_service.use_cases.batch_snapshot import QueuedEnroll
from registration_service.use_cases.constraints import SCHEDULE_LOCK_NAMESPACE
from registration_service.use_cases.decisions import enroll, switch
from registration_service.use_cases.lunch import add_lunch
from registration_testkit import CatalogBuilder
from sqlalchemy import select, text

pytestmark = pytest.mark.postgres

PARTITIONS = 2


@pytest.fixture
def pg(postgres_server):
    url = postgres_server.create_database(f"rules_{uuid.uuid4().hex[:10]}")
    upgrade(url)
    engine, sessions = make_session_factory(url, pool_size=10)
    yield engine, sessions
    engine.dispose()


def lunch_day(sessions, students):
    """9:00 and 10:00 before lunch, lunch at 11:00, 12:00 after, with the lunch rule; class X
    has a section at 9:00 and one at 12:00, and 14:00 holds a class unrelated to lunch."""
    with sessions() as session, session.begin():
        build = CatalogBuilder(session)
        program = build.program()
        slots = [build.timeslot(program, hour) for hour in (0, 1, 2, 3, 5)]
        (lunch,) = add_lunch(session, program, [slots[2]]).classes
        x_early, x_late = build.sections_of_one_class(program, [[slots[0]], [slots[3]]], 100)
        sections = {
            "before": build.section(program, [slots[1]], capacity=100),
            "after": build.section(program, [slots[3]], capacity=100),
            "x_early": x_early,
            "x_late": x_late,
            "lunch": lunch.sections[0].id,
            "unrelated": build.section(program, [slots[4]], capacity=100),
        }
        for student in students:
            build.complete_profile(program, student)
    assert sections["before"] % PARTITIONS != sections["after"] % PARTITIONS
    return program, sections


def race(calls):
    """Run every call at the same instant, each in its own thread; return their results."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(index, call):
        barrier.wait()
        results[index] = call()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def single_enroll(sessions, student, section):
    def call():
        with sessions() as session, session.begin():
            return enroll(session, student_id=student, section_id=section).decision.reason

    return call


def batch_enroll(sessions, program, student, section):
    """A partition's batch of one: the request stored, then decided with the batch path."""
    with sessions() as session, session.begin():
        new = requests.NewRequest(
            program_id=program, student_id=student, action="enroll", section_id=section
        )
        request_id = requests.submit(session, new, partitions=PARTITIONS).id

    def call():
        with sessions() as session, session.begin():
            batch = [QueuedEnroll(request_id, program, student, section, False)]
            decide_enrollments(session, batch, datetime.now(UTC))
        with sessions() as session:
            return session.get(RegistrationRequestRow, request_id).reason

    return call


@pytest.mark.parametrize("path", ["single", "batch"])
def test_two_enrolls_of_one_student_in_two_partitions_at_once_accept_one(pg, path):
    """Before lunch and after it, each alone allowed, together not: one wins, whichever."""
    _engine, sessions = pg
    students = range(1, 11)
    program, s = lunch_day(sessions, students)
    with sessions() as session, session.begin():
        for student in students[::2]:  # half already hold a seat (and a place in the program)
            assert enroll(session, student_id=student, section_id=s["unrelated"]).decision.accepted
    for student in students:
        if path == "single":
            calls = [single_enroll(sessions, student, s[name]) for name in ("before", "after")]
        else:
            calls = [batch_enroll(sessions, program, student, s[n]) for n in ("before", "after")]
        reasons = race(calls)
        assert sorted(map(str, reasons)) == ["None", Reason.CONSTRAINT_FAILED], (student, reasons)


def waiting_on_a_schedule_lock(engine, timeout: float = 30) -> None:
    """Until a backend waits for another's schedule lock (the advisory lock of our namespace)."""
    query = text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        " AND classid = CAST(:namespace AS oid)"
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            if connection.execute(query, {"namespace": SCHEDULE_LOCK_NAMESPACE}).scalar_one():
                return
        time.sleep(0.05)
    raise AssertionError("no backend waited on a schedule lock")


def test_a_batch_waits_for_a_switch_of_the_same_student_then_sees_it(pg):
    """Student 5 holds X at 9:00. A switch to X at 12:00 (no class before lunch left: fine) is
    written but not committed when another partition's batch decides 10:00 (no class after
    lunch: fine). No membership row or section is shared: only the schedule lock keeps the
    batch from deciding on the schedule before the switch. It waits, then refuses."""
    engine, sessions = pg
    program, s = lunch_day(sessions, [5])
    with sessions() as session, session.begin():
        assert enroll(session, student_id=5, section_id=s["x_early"]).decision.accepted
    second = batch_enroll(sessions, program, 5, s["before"])
    first = sessions()
    first.begin()
    moved = switch(first, student_id=5, from_section_id=s["x_early"], to_section_id=s["x_late"])
    assert moved.decision.accepted
    answer = {}
    batch = threading.Thread(target=lambda: answer.update(reason=second()))
    batch.start()
    waiting_on_a_schedule_lock(engine)
    first.commit()
    first.close()
    batch.join(timeout=30)
    assert answer["reason"] == Reason.CONSTRAINT_FAILED
    with sessions() as session:
        message = session.scalar(
            select(RegistrationRequestRow.message).where(RegistrationRequestRow.student_id == 5)
        )
    assert message == "This would break a rule of the program: Take a lunch period."
