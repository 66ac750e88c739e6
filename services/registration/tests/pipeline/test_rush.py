"""The rush path end to end with real processes: gunicorn, Celery partition workers, the relay,
Redis and PostgreSQL. Every accepted request ends decided, nothing overbooks, nothing doubles."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from devstack.pipeline import post_request, wait_for_a_lock_wait, wait_until_decided
from devstack.tokens import issue_token
from registration_service.adapters.models import (
    RegistrationRequestRow,
    SectionRow,
    StudentRegistrationRow,
    outbox,
)
from registration_service.events import LOTTERY_RUN_REVERTED, LOTTERY_STREAM, OUTCOMES_STREAM
from registration_service.use_cases import requests
from registration_testkit import CatalogBuilder, lottery_event
from servicekit.events import StreamPublisher
from sqlalchemy import func, select

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ADMIN = issue_token("admin", "admin", 3600)


def token(student_id: int) -> str:
    return issue_token(student_id, "student", 3600)


def setup_catalog(sessions, students, capacities, same_slot=False):
    with sessions() as session, session.begin():
        build = CatalogBuilder(session)
        program = build.program()
        slot = build.timeslot(program, 0)
        sections = [
            build.section(
                program, [slot if same_slot else build.timeslot(program, i + 1)], capacity=c
            )
            for i, c in enumerate(capacities)
        ]
        for student in students:
            build.complete_profile(program, student)
    return program, sections


def outcomes(sessions, ids):
    with sessions() as session:
        rows = session.scalars(
            select(RegistrationRequestRow).where(RegistrationRequestRow.id.in_(ids))
        )
        return {row.id: (row.status, row.reason) for row in rows}


def seats_held(sessions, section_id):
    with sessions() as session:
        counted = session.scalar(
            select(SectionRow.enrolled_count).where(SectionRow.id == section_id)
        )
        held = session.scalar(
            select(func.count()).where(
                StudentRegistrationRow.section_id == section_id, StudentRegistrationRow.holds_seat
            )
        )
    return counted, held


def burst(stack, program, bodies, keys=None):
    """POST every body at once over many connections; returns the responses in order."""
    with httpx.Client(
        base_url=stack.base_url, timeout=30, limits=httpx.Limits(max_connections=64)
    ) as client:

        def send(index):
            body = bodies[index]
            return post_request(
                client, program, token(body["student_id"]), body, keys[index] if keys else None
            )

        with ThreadPoolExecutor(max_workers=48) as pool:
            return list(pool.map(send, range(len(bodies))))


def test_three_hundred_students_for_twenty_seats(stack, sessions, engine):
    students = range(1000, 1300)
    program, (section,) = setup_catalog(sessions, students, [20])
    responses = burst(
        stack,
        program,
        [{"student_id": s, "action": "enroll", "section_id": section} for s in students],
    )
    assert Counter(r.status_code for r in responses) == {202: 300}
    wait_until_decided(engine)
    results = Counter(outcomes(sessions, [r.json()["id"] for r in responses]).values())
    assert results == {("accepted", None): 20, ("rejected", "section_full"): 280}
    assert seats_held(sessions, section) == (20, 20)


def test_ten_retries_with_one_key_make_one_request_and_one_effect(stack, sessions, engine):
    program, (section,) = setup_catalog(sessions, [2001], [5])
    body = {"student_id": 2001, "action": "enroll", "section_id": section}
    responses = burst(stack, program, [body] * 10, keys=["retry-key-1"] * 10)
    assert {r.status_code for r in responses} == {202}
    assert len({r.json()["id"] for r in responses}) == 1
    wait_until_decided(engine)
    with sessions() as session:
        assert (
            session.scalar(select(func.count()).where(RegistrationRequestRow.student_id == 2001))
            == 1
        )
    assert seats_held(sessions, section) == (1, 1)
    other = burst(stack, program, [{**body, "action": "drop"}], keys=["retry-key-1"])[0]
    assert other.status_code == 422 and other.json()["error"]["code"] == "idempotency_key_reused"


def test_one_student_into_two_same_timeslot_sections_at_once(stack, sessions, engine):
    program, (a, b) = setup_catalog(sessions, [3001], [5, 5], same_slot=True)
    responses = burst(
        stack,
        program,
        [
            {"student_id": 3001, "action": "enroll", "section_id": a},
            {"student_id": 3001, "action": "enroll", "section_id": b},
        ],
    )
    wait_until_decided(engine)
    results = sorted(outcomes(sessions, [r.json()["id"] for r in responses]).values(), key=str)
    assert results == [("accepted", None), ("rejected", "time_conflict")]


def test_switch_and_drop_through_the_pipeline(stack, sessions, engine):
    program, (a, b) = setup_catalog(sessions, [4001], [1, 1], same_slot=True)
    with sessions() as session, session.begin():  # make b and a sections of one class
        section_b = session.get(SectionRow, b)
        section_b.class_id = session.get(SectionRow, a).class_id
    steps = [
        {"student_id": 4001, "action": "enroll", "section_id": a},
        {"student_id": 4001, "action": "switch", "from_section_id": a, "section_id": b},
        {"student_id": 4001, "action": "drop", "section_id": b},
    ]
    for body in steps:
        (response,) = burst(stack, program, [body])
        wait_until_decided(engine)
        assert outcomes(sessions, [response.json()["id"]])[response.json()["id"]] == (
            "accepted",
            None,
        )
    assert seats_held(sessions, a) == (0, 0) and seats_held(sessions, b) == (0, 0)


def test_a_worker_killed_mid_burst_loses_nothing(stack, sessions, engine):
    students = range(5000, 5200)
    program, sections = setup_catalog(sessions, students, [10, 10, 10, 10])
    bodies = [
        {"student_id": s, "action": "enroll", "section_id": sections[s % 4]} for s in students
    ]
    killer = threading.Timer(0.3, stack.kill_worker, args=[0])
    killer.start()
    responses = burst(stack, program, bodies)
    killer.join()
    stack.start_worker(0)  # a supervisor restarts it
    assert {r.status_code for r in responses} == {202}
    wait_until_decided(engine)
    results = Counter(outcomes(sessions, [r.json()["id"] for r in responses]).values())
    assert results == {("accepted", None): 40, ("rejected", "section_full"): 160}
    for section in sections:
        assert seats_held(sessions, section) == (10, 10)


def test_a_worker_killed_in_the_middle_of_a_batch_leaves_nothing_half_decided(
    stack, sessions, engine
):
    """The batch's transaction dies with its worker: the next drain decides every request
    exactly once, and the section's seats still go in commit order."""
    students = range(5500, 5530)
    program, (section,) = setup_catalog(sessions, students, [10])
    index = (section % stack.partitions) % stack.worker_count  # the worker draining it
    stack.kill_worker(index)
    ids = []
    for student in students:  # one by one: the commit order is the order sent
        body = {"student_id": student, "action": "enroll", "section_id": section}
        ids.append(burst(stack, program, [body])[0].json()["id"])
    with sessions() as blocker:
        blocker.begin()  # hold the section so the next batch stops halfway, in its transaction
        blocker.execute(select(SectionRow).where(SectionRow.id == section).with_for_update())
        stack.start_worker(index)
        wait_for_a_lock_wait(engine)  # the drainer has read its batch and waits on the section
        stack.kill_worker(index)
        blocker.rollback()
    stack.start_worker(index)
    wait_until_decided(engine, timeout=60)
    decided = outcomes(sessions, ids)
    assert [decided[i][0] for i in ids] == ["accepted"] * 10 + ["rejected"] * 20
    assert seats_held(sessions, section) == (10, 10)
    with sessions() as session:
        published = Counter(
            json.loads(body)["payload"]["id"]
            for body in session.scalars(
                select(outbox.c.body).where(outbox.c.stream == OUTCOMES_STREAM)
            )
        )
    assert [published[i] for i in ids] == [1] * len(ids)  # one outcome each, never two


def test_a_worker_killed_in_the_middle_of_a_revert_loses_and_doubles_nothing(
    stack, sessions, engine
):
    """A lottery run's revert, its drops decided in one transaction, with the worker deciding
    them killed (-9) halfway: the next drain drops every seat the run gave exactly once, and the
    freed seats go to the waitlist."""
    students = range(5600, 5615)
    program, (section,) = setup_catalog(sessions, students, [10])
    run = [(s, section) for s in students[:10]]
    publisher = StreamPublisher(stack.redis_client())
    publisher.publish(LOTTERY_STREAM, lottery_event(program, run, run_id=41).to_json())
    wait_for_requests(sessions, program, 10)
    wait_until_decided(engine)
    assert seats_held(sessions, section) == (10, 10)
    for student in students[10:]:  # one by one: the waitlist's order is the order sent
        body = {"student_id": student, "action": "enroll", "section_id": section}
        burst(stack, program, [body | {"waitlist": True}])
    wait_until_decided(engine)
    index = (section % stack.partitions) % stack.worker_count  # the worker draining it
    stack.kill_worker(index)
    revert = lottery_event(program, run, event_type=LOTTERY_RUN_REVERTED, run_id=41)
    publisher.publish(LOTTERY_STREAM, revert.to_json())
    wait_for_requests(sessions, program, 25)
    with sessions() as blocker:
        blocker.begin()  # hold the section: the batch of drops stops halfway, in its transaction
        blocker.execute(select(SectionRow).where(SectionRow.id == section).with_for_update())
        stack.start_worker(index)
        wait_for_a_lock_wait(engine)
        stack.kill_worker(index)
        blocker.rollback()
    stack.start_worker(index)
    wait_until_decided(engine, timeout=60)
    with sessions() as session:
        drops = session.scalars(
            select(RegistrationRequestRow).where(
                RegistrationRequestRow.section_id == section,
                RegistrationRequestRow.action == "drop",
            )
        ).all()
        assert sorted((d.student_id, d.status) for d in drops) == [(s, "accepted") for s, _ in run]
        seated = session.scalars(
            select(StudentRegistrationRow.student_id).where(
                StudentRegistrationRow.section_id == section, StudentRegistrationRow.holds_seat
            )
        ).all()
        published = Counter(
            json.loads(body)["payload"].get("id")  # a promotion's has none
            for body in session.scalars(
                select(outbox.c.body).where(outbox.c.stream == OUTCOMES_STREAM)
            )
        )
    assert sorted(seated) == list(students[10:])  # the waitlist, promoted
    assert seats_held(sessions, section) == (5, 5)
    assert [published[d.id] for d in drops] == [1] * len(drops)  # one outcome each, never two


def wait_for_requests(sessions, program: int, count: int, timeout: float = 30) -> None:
    """Until the program has ``count`` requests stored (the relay stores a run's)."""
    deadline = time.monotonic() + timeout
    mine = select(func.count()).where(RegistrationRequestRow.program_id == program)
    while True:
        with sessions() as session:
            if session.scalar(mine) >= count:
                return
        assert time.monotonic() < deadline, f"fewer than {count} requests stored"
        time.sleep(0.1)


def test_a_redis_restart_mid_burst_loses_nothing(stack, sessions, engine):
    students = range(6000, 6150)
    program, sections = setup_catalog(sessions, students, [15, 15, 15])
    bodies = [
        {"student_id": s, "action": "enroll", "section_id": sections[s % 3]} for s in students
    ]

    def restart_redis():
        stack.redis.kill()
        time.sleep(1)
        stack.redis.start()

    restarter = threading.Timer(0.2, restart_redis)
    restarter.start()
    responses = burst(stack, program, bodies)
    restarter.join()
    accepted = [r for r in responses if r.status_code == 202]
    assert len(accepted) == len(responses), Counter(r.status_code for r in responses)
    wait_until_decided(engine, timeout=180)
    results = Counter(outcomes(sessions, [r.json()["id"] for r in accepted]).values())
    assert results == {("accepted", None): 45, ("rejected", "section_full"): 105}
    for section in sections:
        assert seats_held(sessions, section) == (15, 15)


def test_outcomes_stream_as_server_sent_events_and_resume(stack, sessions, engine):
    program, (section,) = setup_catalog(sessions, [7001], [5])
    (response,) = burst(
        stack, program, [{"student_id": 7001, "action": "enroll", "section_id": section}]
    )
    request_id = response.json()["id"]
    headers = {"Authorization": f"Bearer {token(7001)}"}
    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        with client.stream("GET", "/v1/students/7001/outcomes", headers=headers) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            event_id, data = _first_event(stream.iter_lines())
        assert data["id"] == request_id and data["status"] == "accepted"
        status = client.get(f"/v1/registration-requests/{request_id}", headers=headers).json()
        assert (status["status"], status["verb"], status["reason"]) == (
            "accepted",
            "Enrolled",
            None,
        )
        (drop,) = burst(
            stack, program, [{"student_id": 7001, "action": "drop", "section_id": section}]
        )
        resumed = {**headers, "Last-Event-ID": event_id}
        with client.stream("GET", "/v1/students/7001/outcomes", headers=resumed) as stream:
            _, data = _first_event(stream.iter_lines())
        assert data["id"] == drop.json()["id"]
        other = client.get("/v1/students/7002/outcomes", headers=headers)
        assert other.status_code == 403


def _first_event(lines):
    event_id = None
    for line in lines:
        if line.startswith("id: "):
            event_id = line[4:]
        elif line.startswith("data: "):
            return event_id, json.loads(line[6:])
    raise AssertionError("stream ended without an event")


def test_bad_requests_are_refused_at_once_and_queue_nothing(stack, sessions, engine):
    program, (section,) = setup_catalog(sessions, [8001], [5])
    with httpx.Client(base_url=stack.base_url, timeout=30) as client:
        unknown = post_request(
            client,
            program,
            token(8001),
            {"student_id": 8001, "action": "enroll", "section_id": 999999},
        )
        wrong_program = post_request(
            client,
            999999,
            token(8001),
            {"student_id": 8001, "action": "enroll", "section_id": section},
        )
        malformed = post_request(
            client, program, token(8001), {"student_id": 8001, "action": "join"}
        )
        other = post_request(
            client,
            program,
            token(8002),
            {"student_id": 8001, "action": "enroll", "section_id": section},
        )
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "section_not_found")
    assert (wrong_program.status_code, wrong_program.json()["error"]["code"]) == (
        404,
        "program_not_found",
    )
    assert malformed.status_code == 422 and set(malformed.json()["error"]["fields"]) == {
        "action",
        "section_id",
    }
    assert other.status_code == 403
    with sessions() as session:
        assert (
            session.scalar(select(func.count()).where(RegistrationRequestRow.student_id == 8001))
            == 0
        )


def test_a_request_whose_message_never_reached_the_broker_is_swept_and_decided(
    stack, sessions, engine
):
    program, (section,) = setup_catalog(sessions, [9001], [5])
    with sessions() as session, session.begin():  # committed, but no task was ever sent
        row = requests.submit(
            session,
            requests.NewRequest(
                program_id=program, student_id=9001, action="enroll", section_id=section
            ),
            partitions=stack.partitions,
        )
        request_id = row.id
    wait_until_decided(engine, timeout=30)
    assert outcomes(sessions, [request_id])[request_id] == ("accepted", None)
