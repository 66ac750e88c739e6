"""A request's X-Request-ID reaches its 202, its outcome event's ``correlation_id`` and the
worker's log line for its decision, on the batch path (enrolls) and the single path (a drop);
a request placed by the lottery carries the lottery event's id."""

from __future__ import annotations

import json
import logging

import pytest
import redis
from registration_service.adapters.models import RegistrationRequestRow, outbox
from registration_service.events import OUTCOME_DECIDED, OUTCOMES_STREAM, student_stream
from registration_service.use_cases import requests
from registration_service.use_cases.drain import drain_partition
from registration_service.use_cases.lottery_commits import handle_lottery_event
from registration_testkit import CatalogBuilder, bearer, lottery_event
from servicekit.events import StreamPublisher
from servicekit.outbox import relay_outbox
from sqlalchemy import select


@pytest.fixture
def section(sessions) -> tuple[int, int]:
    with sessions() as session, session.begin():
        build = CatalogBuilder(session)
        program = build.program()
        section = build.section(program, [build.timeslot(program)], capacity=5)
        for student in (1, 2, 3):
            build.complete_profile(program, student)
    return program, section


def post(client, program: int, student: int, body: dict, **headers: str):
    path = f"/v1/programs/{program}/registration-requests"
    headers = bearer(student) | {"Idempotency-Key": f"key-{student}-{body['action']}"} | headers
    return client.post(path, json={"student_id": student, **body}, headers=headers)


def drain_all(sessions) -> None:
    with sessions() as session:
        partitions = set(session.scalars(select(RegistrationRequestRow.decision_partition)))
    for partition in sorted(partitions):
        drain_partition(sessions, partition, batch_size=16, max_batches=10)


def outcome_envelopes(sessions) -> dict[str, dict]:
    """Each decided request's outcome event on the shared stream, by request id."""
    with sessions() as session:
        bodies = session.scalars(
            select(outbox.c.body).where(
                outbox.c.event_type == OUTCOME_DECIDED, outbox.c.stream == OUTCOMES_STREAM
            )
        ).all()
    envelopes = [json.loads(body) for body in bodies]
    return {envelope["payload"]["id"]: envelope for envelope in envelopes}


def decision_lines(caplog) -> dict[str, logging.LogRecord]:
    return {
        record.request_id: record  # type: ignore[attr-defined]
        for record in caplog.records
        if record.name == "registration_service.decisions"
    }


def test_the_callers_id_reaches_the_202_the_outcome_event_and_the_log_line(
    client, sessions, section, caplog
):
    caplog.set_level(logging.INFO, logger="registration_service.decisions")
    program, section_id = section
    enrolls = {}
    for student in (1, 2):  # decided together, in one batch
        sent = post(
            client,
            program,
            student,
            {"action": "enroll", "section_id": section_id},
            **{"X-Request-ID": f"trace-enroll-{student}"},
        )
        assert sent.status_code == 202, sent.json
        assert sent.headers["X-Request-ID"] == f"trace-enroll-{student}"
        enrolls[sent.json["id"]] = f"trace-enroll-{student}"
    drain_all(sessions)
    dropped = post(  # decided alone: a drop frees a seat
        client,
        program,
        1,
        {"action": "drop", "section_id": section_id},
        **{"X-Request-ID": "trace-drop-1"},
    )
    assert dropped.status_code == 202 and dropped.headers["X-Request-ID"] == "trace-drop-1"
    drain_all(sessions)

    expected = enrolls | {dropped.json["id"]: "trace-drop-1"}
    envelopes = outcome_envelopes(sessions)
    lines = decision_lines(caplog)
    for request_id, trace in expected.items():
        assert envelopes[request_id]["correlation_id"] == trace
        line = lines[request_id]
        assert line.correlation_id == trace  # type: ignore[attr-defined]
        assert line.status == "accepted" and line.levelno == logging.INFO  # type: ignore[attr-defined]
    with sessions() as session:
        stored = session.get(RegistrationRequestRow, dropped.json["id"])
        assert stored is not None and stored.correlation_id == "trace-drop-1"


def test_a_request_without_an_id_gets_a_fresh_one_and_its_outcome_carries_it(
    client, sessions, section
):
    program, section_id = section
    sent = post(client, program, 3, {"action": "enroll", "section_id": section_id})
    assert sent.status_code == 202
    fresh = sent.headers["X-Request-ID"]
    assert len(fresh) == 32
    drain_all(sessions)
    assert outcome_envelopes(sessions)[sent.json["id"]]["correlation_id"] == fresh


def test_decide_one_at_a_time_carries_the_stored_id_not_the_workers(sessions, section):
    program, section_id = section
    new = requests.NewRequest(
        program_id=program,
        student_id=1,
        action="enroll",
        section_id=section_id,
        correlation_id="trace-single",
    )
    with sessions() as session, session.begin():
        request_id = requests.submit(session, new, partitions=1).id
    with sessions() as session, session.begin():
        requests.decide(session, request_id)
    assert outcome_envelopes(sessions)[request_id]["correlation_id"] == "trace-single"


def test_a_request_without_a_stored_id_gets_the_placeholder(sessions, section):
    program, section_id = section
    new = requests.NewRequest(
        program_id=program, student_id=2, action="enroll", section_id=section_id
    )
    assert new.correlation_id is None  # built outside any web request
    with sessions() as session, session.begin():
        request_id = requests.submit(session, new, partitions=1).id
    drain_all(sessions)
    assert outcome_envelopes(sessions)[request_id]["correlation_id"] == "-"


def test_a_lottery_placed_request_carries_the_lottery_events_id(sessions, section):
    program, section_id = section
    with sessions() as session, session.begin():
        event = lottery_event(program, [(1, section_id)], correlation_id="trace-lottery-run")
        handle_lottery_event(session, event, partitions=1)
        unsent = lottery_event(program, [(2, section_id)], run_id=18)  # built outside a request
        handle_lottery_event(session, unsent, partitions=1)
    with sessions() as session:
        stored = dict(
            session.execute(
                select(RegistrationRequestRow.student_id, RegistrationRequestRow.correlation_id)
            ).all()
        )
    assert stored == {1: "trace-lottery-run", 2: None}


def read_events(client, student: int, count: int) -> list[dict]:
    """The first ``count`` outcome events of the student's open stream, as a page gets them."""
    response = client.get(
        f"/v1/students/{student}/outcomes", headers=bearer(student), buffered=False
    )
    events, chunks = [], iter(response.response)
    while len(events) < count:
        chunk = next(chunks)
        chunk = chunk.decode() if isinstance(chunk, bytes) else chunk
        events += [
            json.loads(line.removeprefix("data: "))
            for line in chunk.splitlines()
            if line.startswith("data: ")
        ]
    response.close()
    return events


def test_the_page_and_the_request_show_the_id_and_a_promotion_names_what_freed_it(
    client, sessions, settings
):
    """The outcome stream's data and the request's GET carry ``correlation_id``; a promotion
    names the drop that freed its seat and carries that drop's id."""
    keeper, waiter = 7101, 7102  # their own streams, whatever earlier tests left in Redis
    with sessions() as session, session.begin():
        build = CatalogBuilder(session)
        program = build.program()
        section_id = build.section(program, [build.timeslot(program)], capacity=1)
        for student in (keeper, waiter):
            build.complete_profile(program, student)
    client_redis = redis.Redis.from_url(settings.redis_url)
    client_redis.delete(student_stream(keeper), student_stream(waiter))
    enroll = post(
        client,
        program,
        keeper,
        {"action": "enroll", "section_id": section_id},
        **{"X-Request-ID": "trace-keeper"},
    )
    drain_all(sessions)
    wait = post(
        client,
        program,
        waiter,
        {"action": "enroll", "section_id": section_id, "waitlist": True},
        **{"X-Request-ID": "trace-waiter"},
    )
    drain_all(sessions)
    drop = post(
        client,
        program,
        keeper,
        {"action": "drop", "section_id": section_id},
        **{"X-Request-ID": "trace-drop"},
    )
    drain_all(sessions)
    engine = sessions.kw["bind"]
    while relay_outbox(engine, outbox, StreamPublisher(client_redis)):
        pass

    read = client.get(f"/v1/registration-requests/{enroll.json['id']}", headers=bearer(keeper))
    assert read.json["correlation_id"] == "trace-keeper"
    kept = read_events(client, keeper, 2)
    assert [(e["id"], e["correlation_id"]) for e in kept] == [
        (enroll.json["id"], "trace-keeper"),
        (drop.json["id"], "trace-drop"),
    ]
    waited, promoted = read_events(client, waiter, 2)
    assert (waited["id"], waited["verb"], waited["correlation_id"]) == (
        wait.json["id"],
        "Waitlisted",
        "trace-waiter",
    )
    assert promoted["event_type"] == "registration.waitlist.promoted.v1"
    assert promoted["freed_by_request_id"] == drop.json["id"]
    assert promoted["correlation_id"] == "trace-drop"
    assert drop.json["id"] in promoted["message"] and promoted["verb"] == "Enrolled"
