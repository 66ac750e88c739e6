"""The database holds the guarantees under real concurrency, on a real PostgreSQL server."""

import threading
import uuid
from collections import Counter

import pytest
from registration_service.adapters.db import make_session_factory
from registration_service.adapters.models import SectionRow
from registration_service.migrate import upgrade
from registration_service.use_cases import queries
from registration_service.use_cases.decisions import drop, enroll
from registration_testkit import CatalogBuilder
from sqlalchemy import select

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_sessions(postgres_server):
    url = postgres_server.create_database(f"reg_{uuid.uuid4().hex[:10]}")
    upgrade(url)
    engine, sessions = make_session_factory(url, pool_size=60)  # a connection per racing thread
    yield sessions
    engine.dispose()


def race(sessions, calls):
    """Run every call at the same instant, each in its own transaction; return the decisions."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(index, kwargs):
        with sessions() as session:
            barrier.wait()
            with session.begin():
                results[index] = enroll(session, **kwargs).decision

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_fifty_students_racing_for_ten_seats_get_exactly_ten(pg_sessions):
    with pg_sessions() as session, session.begin():
        build = CatalogBuilder(session)
        program = build.program()
        section = build.section(program, [build.timeslot(program)], capacity=10)
        for student in range(1, 51):
            build.complete_profile(program, student)
    decisions = race(pg_sessions, [{"student_id": s, "section_id": section} for s in range(1, 51)])
    assert Counter(d.reason for d in decisions) == {None: 10, "section_full": 40}
    with pg_sessions() as session:
        assert (
            session.scalar(select(SectionRow.enrolled_count).where(SectionRow.id == section)) == 10
        )


def test_one_student_racing_into_two_same_timeslot_sections_gets_one(pg_sessions):
    with pg_sessions() as session, session.begin():
        build = CatalogBuilder(session)
        program = build.program(student_capacity=100)
        pairs = []
        for round_ in range(10):
            slot = build.timeslot(program, round_)
            pairs.append((build.section(program, [slot]), build.section(program, [slot])))
        build.complete_profile(program, 7)
    for a, b in pairs:
        decisions = race(
            pg_sessions, [{"student_id": 7, "section_id": a}, {"student_id": 7, "section_id": b}]
        )
        assert sorted(str(d.reason) for d in decisions) == ["None", "time_conflict"]


def test_ten_drops_at_once_promote_exactly_the_ten_oldest_of_a_hundred_waitlisted(pg_sessions):
    with pg_sessions() as session, session.begin():
        build = CatalogBuilder(session)
        program = build.program()
        section = build.section(program, [build.timeslot(program)], capacity=10)
        for student in range(1, 111):
            build.complete_profile(program, student)
    for student in range(1, 111):  # 1-10 seated, then 11-110 waitlisted in that order
        with pg_sessions() as session, session.begin():
            enroll(session, student_id=student, section_id=section, waitlist=True)
    barrier = threading.Barrier(10)

    def leave(student):
        with pg_sessions() as session:
            barrier.wait()
            with session.begin():
                assert drop(session, student_id=student, section_id=section).decision.accepted

    threads = [threading.Thread(target=leave, args=(s,)) for s in range(1, 11)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with pg_sessions() as session:
        assert queries.section_students(session, section) == list(range(11, 21))
        assert queries.waitlist(session, section) == list(range(21, 111))
        count = session.scalar(select(SectionRow.enrolled_count).where(SectionRow.id == section))
        assert count == 10
