"""An opening's audience through the real processes (issue 19): 2,000 students hold their
outcome streams open while each sends an enroll. Every outcome reaches its student's open page
(none lost, none repeated, a tenth of the pages reconnecting by Last-Event-ID mid-burst), the
server ends no stream, and each web process holds a bounded number of Redis connections however
many pages it serves. ``make bench-audience`` runs the same at 10,000 and reports the times."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import redis
from devstack.audience import Audience, children, send, tcp_connections_to
from devstack.pipeline import PipelineStack, wait_until_decided
from devstack.redis_server import RedisServer
from devstack.tokens import issue_token
from registration_service import capacity
from registration_service.adapters.db import make_session_factory
from registration_service.adapters.models import CompleteProfileRow
from registration_service.migrate import upgrade
from registration_service.use_cases import catalog

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

STUDENTS = 2_000
SECTIONS = 100


def seed(url: str) -> tuple[int, list[int]]:
    rng = random.Random(19)
    engine, sessions = make_session_factory(url)
    with sessions() as session, session.begin():
        program = catalog.create_program(session, catalog.NewProgram("Audience", 7, 12)).id
        start = datetime(2026, 12, 5, 9, tzinfo=UTC)
        slots = [
            catalog.add_timeslot(
                session, program, start + timedelta(hours=h), start + timedelta(hours=h, minutes=50)
            ).id
            for h in range(4)
        ]
        sections = [
            catalog.add_class(
                session,
                program,
                f"Class {n}",
                7,
                12,
                [catalog.NewSection(rng.randint(10, 30), (rng.choice(slots),))],
            )
            .sections[0]
            .id
            for n in range(SECTIONS)
        ]
        session.add_all(
            CompleteProfileRow(program_id=program, student_id=s, grade=9, event_id=f"seed-{s}")
            for s in range(1, STUDENTS + 1)
        )
    engine.dispose()
    return program, sections


def test_every_outcome_reaches_its_open_page_on_a_few_redis_connections(postgres_server, tmp_path):
    url = postgres_server.create_database(f"audience_{uuid.uuid4().hex[:8]}")
    upgrade(url)
    program, sections = seed(url)
    redis_server = RedisServer(tmp_path / "redis").start()
    stack = PipelineStack(url, redis_server, tmp_path, partitions=8).start()
    tokens = {s: issue_token(s, "student", 3600) for s in range(1, STUDENTS + 1)}
    audience = Audience(stack.base_url, tokens, processes=2, churn=0.1)
    try:
        assert audience.open() == STUDENTS
        rng = random.Random(7)
        acks = send(stack.base_url, program, [(s, rng.choice(sections)) for s in tokens], tokens)
        assert sorted({a.status for a in acks}) == [202]
        engine, _ = make_session_factory(url)
        wait_until_decided(engine)
        engine.dispose()
        expected = {a.request_id for a in acks}
        audience.await_deliveries(len(expected), timeout=60)
        # Bounded Redis connections in every web process, with 1,000 pages each.
        webs = children(stack.others[0].pid)
        per_web = [tcp_connections_to(pid, redis_server.port) for pid in webs]
        assert len(webs) == 2 and max(per_web) <= 10, per_web
        # The fan-out's own, named by their process: two each, however many pages are open
        # (the rest are the pool's and Celery's producer's; kombu may add one to the latter).
        with redis.Redis(port=redis_server.port) as look:
            named = [c.get("name", "") for c in look.client_list()]
        for pid in webs:
            fanout = [n for n in named if n.startswith(f"outcome-fanout-{pid}-")]
            assert len(fanout) == capacity.FANOUT_REDIS_CONNECTIONS, named
    finally:
        watched = audience.close()
        stack.stop()
        redis_server.stop()
    assert set(watched.first_seen()) == expected
    assert watched.ended_by_server == 0 and not watched.errors, watched.errors
    assert watched.repeated() == 0
    assert watched.reconnects == STUDENTS // 10
