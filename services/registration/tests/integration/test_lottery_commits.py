"""A lottery run's commit and revert become queued requests placed by the run, decided by the
usual rules except the registration window, on both decision paths (SQLite here; PostgreSQL in
test_batches_postgres.py), and the relay rings their partitions."""

from __future__ import annotations

import itertools
import json
import logging
from datetime import UTC, datetime, timedelta

import pytest
import redis
from devstack.tokens import TEST_SIGNER
from registration_service.adapters.db import make_session_factory
from registration_service.adapters.models import (
    RegistrationRequestRow,
    SectionRow,
    StudentRegistrationRow,
    outbox,
)
from registration_service.events import (
    LOTTERY_RUN_REVERTED,
    LOTTERY_STREAM,
    OUTCOME_DECIDED,
    OUTCOMES_STREAM,
    student_stream,
)
from registration_service.messaging import Doorbells, decision_queue, doorbell_key, make_celery
from registration_service.settings import RegistrationSettings
from registration_service.use_cases import requests
from registration_service.use_cases.decisions import enroll
from registration_service.use_cases.drain import drain_partition
from registration_service.use_cases.lottery_commits import handle_lottery_event
from registration_service.worker.relay import apply_lottery_events
from registration_service.worker.resources import Resources
from registration_testkit import RUN_STARTS_AT, T0, CatalogBuilder, lottery_event
from servicekit.events import StreamConsumer, StreamPublisher
from sqlalchemy import select

PARTITIONS = 4
NOT_YET_OPEN = {
    "registration_opens_at": T0 + timedelta(days=1),
    "registration_closes_at": T0 + timedelta(days=2),
}


def handle(session, event):
    return handle_lottery_event(session, event, partitions=PARTITIONS)


def stored(session) -> list[RegistrationRequestRow]:
    query = select(RegistrationRequestRow).order_by(
        RegistrationRequestRow.created_at, RegistrationRequestRow.id
    )
    return list(session.scalars(query.execution_options(populate_existing=True)))


def decide_all(session) -> dict[int, tuple[str, str | None]]:
    """Decide every queued request one at a time: {student: (status, reason)} of the last."""
    for row in stored(session):
        requests.decide(session, row.id, when=T0)
    return {row.student_id: (row.status, row.reason) for row in stored(session)}


def registrations(session, section) -> list[tuple[int, bool, object]]:
    rows = session.scalars(
        select(StudentRegistrationRow)
        .where(StudentRegistrationRow.section_id == section)
        .order_by(StudentRegistrationRow.id)
        .execution_options(populate_existing=True)
    )
    return [(row.student_id, row.active, row.start_date) for row in rows]


def outcome_origins(session) -> list[tuple[int, str, str | None]]:
    query = select(outbox.c.body).where(outbox.c.event_type == OUTCOME_DECIDED)
    payloads = [json.loads(body)["payload"] for body in session.scalars(query)]
    return sorted({(p["student_id"], p["action"], p["origin"]) for p in payloads})


@pytest.fixture
def two_sections(session, build):
    """A program whose window is not open yet, two sections in it, students 1-3 complete."""
    program = build.program(**NOT_YET_OPEN)
    sections = [build.section(program, [build.timeslot(program, hour)]) for hour in (0, 1)]
    for student in (1, 2, 3):
        build.complete_profile(program, student)
    return program, sections


def test_a_committed_part_handled_again_stores_each_request_once(session, two_sections):
    program, (a, b) = two_sections
    event = lottery_event(program, [(1, a), (2, b)])
    assert handle(session, event) == {a % PARTITIONS, b % PARTITIONS}
    assert handle(session, event) is None  # the same event again: dropped by its id
    republished = lottery_event(program, [(1, a), (2, b)])  # the part again, a new event id
    assert republished.event_id != event.event_id
    assert handle(session, republished) == {a % PARTITIONS, b % PARTITIONS}  # still queued
    rows = stored(session)
    assert [
        (r.student_id, r.action, r.section_id, r.origin, r.starts_at, r.idempotency_key)
        for r in rows
    ] == [
        (1, "enroll", a, "lottery-run:17", RUN_STARTS_AT, f"lottery-run-17-section-{a}"),
        (2, "enroll", b, "lottery-run:17", RUN_STARTS_AT, f"lottery-run-17-section-{b}"),
    ]
    assert {row.status for row in rows} == {"queued"}


def test_assignments_outside_the_program_are_skipped_and_the_others_stored(
    session, build, two_sections, caplog
):
    program, (a, _) = two_sections
    other = build.program()
    foreign = build.section(other, [build.timeslot(other)])
    event = lottery_event(program, [(1, foreign), (2, a), (3, 999_999)])
    with caplog.at_level(logging.WARNING):
        assert handle(session, event) == {a % PARTITIONS}
    assert [(r.student_id, r.section_id) for r in stored(session)] == [(2, a)]
    assert "answered 2 assignments" in caplog.text
    # Answered at once, so the lottery never waits for them (the student's stream first).
    staged = session.execute(
        select(outbox.c.stream, outbox.c.body).where(outbox.c.event_type == OUTCOME_DECIDED)
    ).all()
    answers = {
        (stream, p["student_id"], p["section_id"], p["status"], p["reason"], p["origin"])
        for stream, p in ((stream, json.loads(body)["payload"]) for stream, body in staged)
    }
    assert answers == {
        (stream, student, section, "rejected", "section_removed", "lottery-run:17")
        for student, section in ((1, foreign), (3, 999_999))
        for stream in (student_stream(student), OUTCOMES_STREAM)
    }


def test_an_event_of_an_unknown_program_stores_nothing(session, two_sections):
    _, (a, _) = two_sections
    assert handle(session, lottery_event(4242, [(1, a)])) == set()
    assert stored(session) == []


def test_a_run_is_decided_before_the_window_opens_and_its_seats_start_together(
    session, two_sections
):
    program, (a, b) = two_sections
    handle(session, lottery_event(program, [(1, a), (2, b)]))
    own = requests.NewRequest(program_id=program, student_id=3, action="enroll", section_id=a)
    requests.submit(session, own, partitions=PARTITIONS)
    assert decide_all(session) == {
        1: ("accepted", None),
        2: ("accepted", None),
        3: ("rejected", "registration_closed"),  # a student's own request: the window binds
    }
    assert registrations(session, a) == [(1, True, RUN_STARTS_AT)]
    assert registrations(session, b) == [(2, True, RUN_STARTS_AT)]
    assert outcome_origins(session) == [
        (1, "enroll", "lottery-run:17"),
        (2, "enroll", "lottery-run:17"),
        (3, "enroll", None),
    ]


def test_every_other_rule_still_binds_a_run(session, build):
    program = build.program(**NOT_YET_OPEN)
    slot = build.timeslot(program)
    small = build.section(program, [slot], capacity=1)
    same_time = build.section(program, [slot])
    for student in (1, 2):
        build.complete_profile(program, student)
    assignments = [(1, small), (2, small), (1, same_time), (3, same_time)]
    handle(session, lottery_event(program, assignments))
    for row in stored(session):
        requests.decide(session, row.id, when=T0)
    assert [(r.student_id, r.section_id, r.status, r.reason) for r in stored(session)] == [
        (1, small, "accepted", None),
        (2, small, "rejected", "section_full"),
        (1, same_time, "rejected", "time_conflict"),
        (3, same_time, "rejected", "profile_incomplete"),
    ]


def test_a_revert_drops_only_what_the_run_enrolled(session, two_sections):
    """Student 1's seat came from the run; student 2 took theirs; both are in the revert (the
    commit's enroll of 2 was refused, say). Only the run's seat goes."""
    program, (a, _) = two_sections
    handle(session, lottery_event(program, [(1, a)]))
    decide_all(session)
    own = enroll(session, student_id=2, section_id=a, when=T0 + timedelta(days=1, hours=1))
    assert own.decision.accepted
    handle(session, lottery_event(program, [(1, a), (2, a)], event_type=LOTTERY_RUN_REVERTED))
    assert decide_all(session) == {  # the drops, decided before the window opens
        1: ("accepted", None),
        2: ("rejected", "not_registered"),  # 2's own seat started at another time
    }
    seated = [(s, active) for s, active, _ in registrations(session, a)]
    assert seated == [(1, False), (2, True)]
    drops = [(r.student_id, r.origin) for r in stored(session) if r.action == "drop"]
    assert drops == [(1, "lottery-revert:17"), (2, "lottery-revert:17")]
    assert (1, "drop", "lottery-revert:17") in outcome_origins(session)


def test_a_seat_a_revert_frees_goes_to_the_waitlist(session, build):
    program = build.program()
    section = build.section(program, [build.timeslot(program)], capacity=1)
    for student in (1, 2):
        build.complete_profile(program, student)
    handle(session, lottery_event(program, [(1, section)]))
    decide_all(session)
    enroll(session, student_id=2, section_id=section, waitlist=True, when=T0)
    handle(session, lottery_event(program, [(1, section)], event_type=LOTTERY_RUN_REVERTED))
    decide_all(session)
    active = [(s, start) for s, is_active, start in registrations(session, section) if is_active]
    assert [s for s, _ in active] == [2]
    assert active[0][1] != RUN_STARTS_AT  # the promoted seat is the student's own


def test_the_batch_path_decides_a_run_outside_the_window_with_its_start_date(sessions):
    closed_at = datetime.now(UTC) - timedelta(days=1)  # the drainer decides now
    with sessions() as session, session.begin():
        build = CatalogBuilder(session)
        program = build.program(
            registration_opens_at=closed_at - timedelta(days=1), registration_closes_at=closed_at
        )
        section = build.section(program, [build.timeslot(program)], capacity=2)
        for student in (1, 2, 3):
            build.complete_profile(program, student)
        rung = handle(session, lottery_event(program, [(1, section), (2, section), (3, section)]))
    assert rung == {section % PARTITIONS}
    drained = drain_partition(sessions, section % PARTITIONS, batch_size=10, max_batches=2)
    assert drained.decided == 3 and drained.batches == 1  # one batch of three enrolls
    with sessions() as session:
        assert [(r.student_id, r.status, r.reason) for r in stored(session)] == [
            (1, "accepted", None),
            (2, "accepted", None),
            (3, "rejected", "section_full"),
        ]
        assert registrations(session, section) == [
            (1, True, RUN_STARTS_AT),
            (2, True, RUN_STARTS_AT),
        ]
        assert {origin for _, _, origin in outcome_origins(session)} == {"lottery-run:17"}


def test_a_revert_is_drained_as_one_batch_of_drops_that_promotes_the_waitlist(sessions):
    """The revert's drops are decided in one transaction (a commit per drop made the revert six
    times slower than the commit), each freeing its seat and giving it to the waitlist."""
    now = datetime.now(UTC)
    with sessions() as session, session.begin():
        build = CatalogBuilder(session)
        program = build.program(
            registration_opens_at=now - timedelta(days=1),
            registration_closes_at=now + timedelta(days=1),
        )
        section = build.section(program, [build.timeslot(program)], capacity=3)
        for student in range(1, 6):
            build.complete_profile(program, student)
        handle(session, lottery_event(program, [(1, section), (2, section), (3, section)]))
    partition = section % PARTITIONS
    assert drain_partition(sessions, partition, batch_size=10, max_batches=2).decided == 3
    with sessions() as session, session.begin():
        for student in (4, 5):  # waiting for a seat, as students do after the commit
            waiting = enroll(session, student_id=student, section_id=section, waitlist=True)
            assert waiting.decision.accepted and waiting.decision.verb == "Waitlisted"
        revert = [(1, section), (2, section), (3, section)]
        handle(session, lottery_event(program, revert, event_type=LOTTERY_RUN_REVERTED))
    drained = drain_partition(sessions, partition, batch_size=10, max_batches=2)
    assert drained.decided == 3 and drained.batches == 1  # one batch of three drops
    with sessions() as session:
        drops = [(r.student_id, r.status) for r in stored(session) if r.action == "drop"]
        assert drops == [(1, "accepted"), (2, "accepted"), (3, "accepted")]
        seated = session.scalars(
            select(StudentRegistrationRow.student_id).where(
                StudentRegistrationRow.section_id == section, StudentRegistrationRow.holds_seat
            )
        ).all()
        assert sorted(seated) == [4, 5]  # the waitlist, promoted into two of the freed seats
        held = session.scalar(select(SectionRow.enrolled_count).where(SectionRow.id == section))
        assert held == 2


_databases = itertools.count(1)


@pytest.fixture
def relay_resources(database_url, redis_server):
    """What the relay holds, on this test's own Redis database (its streams start empty)."""
    redis_url = redis_server.url.rsplit("/", 1)[0] + f"/{next(_databases) % 16}"
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    settings = RegistrationSettings(
        database_url=database_url,
        redis_url=redis_url,
        jwt_jwks=TEST_SIGNER.jwks_json(),
        decision_partitions=PARTITIONS,
    )
    engine, sessions = make_session_factory(database_url)
    celery = make_celery(settings)
    doorbells = Doorbells(celery, client, settings)
    publisher = StreamPublisher(client)
    yield Resources(settings, engine, sessions, publisher, celery, client, doorbells)
    engine.dispose()


def test_the_relay_stores_a_runs_requests_then_rings_their_partitions(relay_resources):
    res = relay_resources
    with res.sessions() as session, session.begin():
        build = CatalogBuilder(session)
        program = build.program()
        sections = [build.section(program, [build.timeslot(program, hour)]) for hour in (0, 1)]
    event = lottery_event(program, [(1, sections[0]), (2, sections[1])])
    res.publisher.publish(LOTTERY_STREAM, event.to_json())
    res.publisher.publish(LOTTERY_STREAM, event.to_json())  # delivered twice
    consumer = StreamConsumer(res.redis, LOTTERY_STREAM, "registration", "test")
    assert apply_lottery_events(consumer, res) == 1
    assert apply_lottery_events(consumer, res) == 0
    with res.sessions() as session:
        assert len(stored(session)) == 2
    for partition in {section % PARTITIONS for section in sections}:
        assert res.redis.exists(doorbell_key(partition))
        assert res.redis.llen(decision_queue(partition)) == 1
