"""The outcome streams' fan-out on a real Redis: one process's pages share two connections, each
page gets each of its student's outcomes exactly once (a page that connects in the middle of a
burst, or resumes by Last-Event-ID, included), a slow page is closed without holding up the
others, and a stream opened while Redis is away waits with heartbeats instead of failing."""

from __future__ import annotations

import json
import threading
import time

import pytest
import redis
from devstack.ports import free_port
from devstack.tokens import TEST_SIGNER
from registration_service.api.app import create_app
from registration_service.events import OUTCOMES_STREAM, student_stream
from registration_service.outcome_fanout import OutcomeFanout, Subscription
from registration_service.settings import RegistrationSettings
from registration_testkit import bearer
from servicekit.events import Event, StreamPublisher


@pytest.fixture
def redis_url(redis_server) -> str:
    """A database of its own, emptied: the shared outcome stream holds only this test's."""
    url = redis_server.url.rsplit("/", 1)[0] + "/5"
    redis.Redis.from_url(url).flushdb()
    return url


def outcome(student: int, n: int) -> Event:
    return Event(
        "registration.outcome.decided.v1",
        "registration",
        {"id": f"request-{student}-{n}", "student_id": student, "status": "accepted"},
        correlation_id=f"trace-{n}",
    )


def publish(url: str, student: int, n: int, *, only: str | None = None) -> str:
    """One outcome of ``student`` on both streams, as the relay writes them (the student's
    first), or on the one stream ``only``; its event id."""
    event = outcome(student, n)
    streams = [only] if only else [student_stream(student), OUTCOMES_STREAM]
    StreamPublisher(redis.Redis.from_url(url)).publish_many([(s, event.to_json()) for s in streams])
    return event.event_id


def xrange_calls(url: str) -> int:
    stats = redis.Redis.from_url(url).info("commandstats")
    return int(stats.get("cmdstat_xrange", {}).get("calls", 0))


def received(page: Subscription, count: int, timeout: float = 10) -> list[tuple[str, dict]]:
    """(SSE id, data) of the next ``count`` events written to ``page``."""
    events: list[tuple[str, dict]] = []
    deadline = time.monotonic() + timeout
    chunks = page.chunks(heartbeat_seconds=0.2)
    while len(events) < count and time.monotonic() < deadline:
        chunk = next(chunks)
        if chunk is None:
            continue
        for block in chunk.strip().split("\n\n"):
            lines = dict(line.split(": ", 1) for line in block.splitlines())
            events.append((lines["id"], json.loads(lines["data"])))
    return events


def stream_ids(url: str, student: int) -> list[str]:
    entries = redis.Redis.from_url(url).xrange(student_stream(student))
    return [entry_id.decode() for entry_id, _ in entries]


def test_every_page_gets_each_of_its_outcomes_once_with_its_stream_id(redis_url, fanouts):
    fanout = fanouts(redis_url)
    earlier = [publish(redis_url, 1, n) for n in range(3)]  # before any page: a replay
    pages = [fanout.subscribe(1, "0"), fanout.subscribe(1, "0"), fanout.subscribe(2, "0")]
    later = [publish(redis_url, 1, n) for n in range(3, 6)] + [publish(redis_url, 2, 0)]
    assert len(earlier + later) == 7
    ones = stream_ids(redis_url, 1)
    for page in pages[:2]:
        got = received(page, 6)
        assert [entry_id for entry_id, _ in got] == ones
        assert [data["id"] for _, data in got] == [f"request-1-{n}" for n in range(6)]
        assert {data["correlation_id"] for _, data in got} == {f"trace-{n}" for n in range(6)}
        assert received(page, 1, timeout=0.5) == []  # nothing twice
    assert [data["id"] for _, data in received(pages[2], 1)] == ["request-2-0"]
    assert fanout.open_pages() == 3
    for page in pages:
        fanout.unsubscribe(page)
    assert fanout.open_pages() == 0


def test_a_stopped_fanout_ends_its_threads_even_while_redis_is_away():
    """A process that outlives its app (a test session) keeps no loop retrying a gone Redis."""
    fanout = OutcomeFanout(f"redis://127.0.0.1:{free_port()}/0")  # nobody listens there
    before = set(threading.enumerate())
    fanout.subscribe(1, "0")
    mine = set(threading.enumerate()) - before
    assert {t.name for t in mine} == {
        "outcomes-listener",
        "outcomes-fetcher",
        "outcomes-heartbeats",
    }
    fanout.stop()
    for thread in mine:
        thread.join(timeout=5)
    assert not [t.name for t in mine if t.is_alive()]


def test_a_page_resumes_after_its_last_event_id_and_one_joining_mid_burst_misses_nothing(
    redis_url, fanouts
):
    fanout = fanouts(redis_url)
    fanout.subscribe(99, "0")  # the fan-out runs before the burst
    publish(redis_url, 3, 0)
    burst = threading.Thread(target=lambda: [publish(redis_url, 3, n) for n in range(1, 301)])
    burst.start()
    time.sleep(0.05)
    joining = fanout.subscribe(3, "0")  # while the outcomes are being published
    burst.join()
    ids = stream_ids(redis_url, 3)
    got = [entry_id for entry_id, _ in received(joining, 301)]
    assert got == ids and len(set(got)) == 301

    resumed = fanout.subscribe(3, ids[149])  # a browser back with Last-Event-ID
    publish(redis_url, 3, 301)
    got = [entry_id for entry_id, _ in received(resumed, 152)]
    assert got == stream_ids(redis_url, 3)[150:]
    assert received(resumed, 1, timeout=0.5) == []


def test_an_outcome_announced_before_it_reaches_the_students_stream_still_arrives(
    redis_url, fanouts
):
    fanout = fanouts(redis_url)
    page = fanout.subscribe(4, "0")
    warm_up = fanout.subscribe(98, "0")  # its outcome arrived: the listener holds a position
    publish(redis_url, 98, 0)
    assert len(received(warm_up, 1)) == 1
    event = outcome(4, 0)
    publisher = StreamPublisher(redis.Redis.from_url(redis_url))
    publisher.publish(OUTCOMES_STREAM, event.to_json())  # announced, not in its stream yet
    time.sleep(0.3)  # the fetcher has looked and found nothing
    publisher.publish(student_stream(4), event.to_json())
    assert [data["id"] for _, data in received(page, 1)] == ["request-4-0"]


def test_an_announcement_of_an_outcome_already_read_is_no_news(redis_url, fanouts):
    """The relay writes the student's stream first, so the fetcher often reads an outcome
    before the listener hears of it; that late announcement must not keep the student due
    (read again every 20 ms until ANNOUNCED_PATIENCE passed)."""
    fanout = fanouts(redis_url)
    page = fanout.subscribe(8, "0")
    warm_up = fanout.subscribe(97, "0")  # as above
    publish(redis_url, 97, 0)
    assert len(received(warm_up, 1)) == 1
    first, second = outcome(8, 0), outcome(8, 1)
    publisher = StreamPublisher(redis.Redis.from_url(redis_url))
    publisher.publish(student_stream(8), first.to_json())
    publisher.publish(student_stream(8), second.to_json())
    publisher.publish(OUTCOMES_STREAM, first.to_json())  # the fetcher reads both
    assert len(received(page, 2)) == 2
    publisher.publish(OUTCOMES_STREAM, second.to_json())  # heard of after it was read
    time.sleep(0.2)
    before = xrange_calls(redis_url)
    time.sleep(1.0)
    assert xrange_calls(redis_url) - before <= 2


def test_a_head_request_leaves_no_page_subscribed(database_url, redis_url):
    settings = RegistrationSettings(
        database_url=database_url, redis_url=redis_url, jwt_jwks=TEST_SIGNER.jwks_json()
    )
    app = create_app(settings)
    response = app.test_client().head("/v1/students/7/outcomes", headers=bearer(7))
    assert response.status_code == 200
    response.close()
    assert app.extensions["registration.fanout"].open_pages() == 0
    app.extensions["registration.fanout"].stop()


def test_a_slow_page_is_closed_and_the_others_are_not_held_up(redis_url, fanouts):
    fanout = fanouts(redis_url, max_behind=10)
    slow = fanout.subscribe(5, "0")  # never read
    brisk = fanout.subscribe(6, "0")
    for n in range(30):
        publish(redis_url, 5, n)
    publish(redis_url, 6, 0)
    assert [data["id"] for _, data in received(brisk, 1, timeout=5)] == ["request-6-0"]
    deadline = time.monotonic() + 5
    while not slow.lagged and time.monotonic() < deadline:
        time.sleep(0.05)
    assert slow.lagged
    assert list(slow.chunks(heartbeat_seconds=0.1)) == []  # its writer stops at once


def test_two_redis_connections_serve_any_number_of_pages(redis_url, fanouts):
    fanout = fanouts(redis_url)
    client = redis.Redis.from_url(redis_url)
    pages = [fanout.subscribe(1000 + n, "0") for n in range(300)]
    for n in range(0, 300, 7):
        publish(redis_url, 1000 + n, 0)
    for n in range(0, 300, 7):
        assert [data["id"] for _, data in received(pages[n], 1)] == [f"request-{1000 + n}-0"]
    named = [c for c in client.client_list() if c["name"] == fanout.client_name]
    assert len(named) == 2


def test_a_stream_opened_while_redis_is_away_stays_open_with_heartbeats(database_url):
    unreachable = "redis://127.0.0.1:1/0"
    settings = RegistrationSettings(
        database_url=database_url,
        redis_url=unreachable,
        jwt_jwks=TEST_SIGNER.jwks_json(),
        outcome_heartbeat_seconds=0.1,
    )
    app = create_app(settings)
    response = app.test_client().get("/v1/students/7/outcomes", headers=bearer(7), buffered=False)
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    chunks = iter(response.response)
    assert [next(chunks), next(chunks), next(chunks)] == [
        b"retry: 2000\n\n",
        b": keep-alive\n\n",
        b": keep-alive\n\n",
    ]
    response.close()
    app.extensions["registration.fanout"].stop()  # not left retrying port 1 all session
