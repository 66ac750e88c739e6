"""An outcome stream resumed from further back than Redis keeps: the fan-out (real Redis, a real
SQLite database, real decisions and a waitlist promotion) gives the student's outcomes from the
database, in order and once each, the same data the live stream gave, then the live ones."""

from __future__ import annotations

import json
import time

import pytest
import redis
from registration_service.adapters.db import make_session_factory
from registration_service.adapters.models import outbox
from registration_service.api.app import outcome_replay
from registration_service.events import STUDENT_STREAM_PREFIX, WAITLIST_PROMOTED, student_stream
from registration_service.outcome_fanout import Subscription
from registration_service.use_cases import requests
from registration_service.use_cases.requests import NewRequest
from registration_testkit import CatalogBuilder
from servicekit.events import StreamPublisher
from servicekit.outbox import relay_outbox

STUDENT, OTHER = 7, 8


@pytest.fixture
def redis_url(redis_server) -> str:
    url = redis_server.url.rsplit("/", 1)[0] + "/6"
    redis.Redis.from_url(url).flushdb()
    return url


class Registration:
    """Decisions through the use cases, and the relay's publishing by hand, with a retention
    of one second."""

    def __init__(self, database_url: str, redis_url: str) -> None:
        self.engine, self.sessions = make_session_factory(database_url)
        self.redis = redis.Redis.from_url(redis_url)
        self.publisher = StreamPublisher(
            self.redis, retention_seconds=1, expiring_prefixes=(STUDENT_STREAM_PREFIX,)
        )
        with self.sessions() as session, session.begin():
            build = CatalogBuilder(session)
            self.program = build.program()
            self.sections = [
                build.section(self.program, [build.timeslot(self.program, h)]) for h in range(5)
            ]
            self.full = build.section(self.program, [build.timeslot(self.program, 9)], capacity=1)
            for student in (STUDENT, OTHER):
                build.complete_profile(self.program, student)

    def decide(self, student: int, section: int, action: str = "enroll", **more: object) -> str:
        new = NewRequest(self.program, student, action, section, **more)
        with self.sessions() as session, session.begin():
            row = requests.submit(session, new, partitions=1)
            requests.decide(session, row.id)
        time.sleep(0.005)  # published a few milliseconds after its decision, as by the relay
        return new.id

    def relay(self) -> None:
        while relay_outbox(self.engine, outbox, self.publisher):
            pass


def test_a_page_resumed_from_before_the_retention_gets_the_database_then_the_stream(
    database_url, redis_url, fanouts
):
    reg = Registration(database_url, redis_url)
    fanout = fanouts(redis_url, replay=outcome_replay(reg.sessions))
    live = fanout.subscribe(STUDENT, "0")  # open the whole time: what the stream gave
    reg.decide(STUDENT, reg.sections[0])
    reg.relay()
    ((first_id, _),) = received(live, 1)

    # The browser closes; meanwhile a seat, a waitlist place and a promotion, then a week.
    reg.decide(STUDENT, reg.sections[1])
    reg.decide(OTHER, reg.full)
    reg.decide(STUDENT, reg.full, waitlist=True)
    dropped = reg.decide(OTHER, reg.full, action="drop")  # frees the seat: STUDENT promoted
    reg.relay()
    given_live = received(live, 3)
    fanout.unsubscribe(live)
    assert given_live[-1][1]["event_type"] == WAITLIST_PROMOTED
    assert given_live[-1][1]["freed_by_request_id"] == dropped
    time.sleep(1.2)
    assert not reg.redis.exists(student_stream(STUDENT))  # expired: a quiet week
    decided_unpublished = reg.decide(STUDENT, reg.sections[2])  # the relay has not sent it

    resumed = fanout.subscribe(STUDENT, first_id)  # Last-Event-ID older than the retention
    from_database = received(resumed, 4)
    assert [data for _, data in from_database[:3]] == [data for _, data in given_live]
    assert from_database[3][1]["id"] == decided_unpublished
    ids = [entry_id for entry_id, _ in from_database]
    assert ids == sorted(ids, key=order) and order(ids[0]) > order(first_id)

    reg.relay()  # the outcome given from the database reaches the stream: not given twice
    later = reg.decide(STUDENT, reg.sections[3])
    reg.relay()
    ((live_id, data),) = received(resumed, 1)
    assert data["id"] == later and live_id == stream_ids(reg)[-1]
    assert received(resumed, 1, timeout=0.5) == []

    # Resumed again from half way through what the database gave: the rest, once each.
    again = fanout.subscribe(STUDENT, ids[1])
    rest = [data for _, data in received(again, 3)]
    assert rest[0]["event_type"] == WAITLIST_PROMOTED
    assert [data["id"] for data in rest[1:]] == [decided_unpublished, later]
    assert received(again, 1, timeout=0.5) == []


def received(page: Subscription, count: int, timeout: float = 10) -> list[tuple[str, dict]]:
    """(SSE id, data) of the next ``count`` events written to ``page``."""
    events: list[tuple[str, dict]] = []
    deadline = time.monotonic() + timeout
    chunks = page.chunks(heartbeat_seconds=0.2)
    while len(events) < count and time.monotonic() < deadline:
        chunk = next(chunks)
        for block in (chunk or "").strip().split("\n\n") if chunk else ():
            lines = dict(line.split(": ", 1) for line in block.splitlines())
            events.append((lines["id"], json.loads(lines["data"])))
    return events


def order(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq)


def stream_ids(reg: Registration) -> list[str]:
    return [entry_id.decode() for entry_id, _ in reg.redis.xrange(student_stream(STUDENT))]


def test_a_page_waits_while_the_database_is_away_and_gets_its_outcomes_once_it_is_back(
    database_url, redis_url, fanouts
):
    reg = Registration(database_url, redis_url)
    real = outcome_replay(reg.sessions)
    calls: list[int] = []

    def database_away_once(student: int, after_ms: int, before_ms: int | None) -> list[dict]:
        calls.append(student)
        if len(calls) == 1:
            raise ConnectionError("the database is away")
        return real(student, after_ms, before_ms)

    fanout = fanouts(redis_url, replay=database_away_once)
    decided = reg.decide(STUDENT, reg.sections[0])  # never published: only the database has it
    page = fanout.subscribe(STUDENT, "1-0")
    ((_, data),) = received(page, 1, timeout=5)
    assert data["id"] == decided and calls == [STUDENT, STUDENT]
    assert received(page, 1, timeout=0.3) == []
