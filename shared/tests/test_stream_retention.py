"""Streams kept for a retention, on a real Redis: old entries are trimmed at the next publish,
students' streams carry a time to live and expire, and a consumer group that stood behind what
was trimmed is told loudly and counted, once, while one that had read everything is not."""

from __future__ import annotations

import itertools
import logging
import time

import pytest
import redis
from prometheus_client import REGISTRY
from servicekit.events import TRIMMED_KEY, Event, StreamConsumer, StreamPublisher
from servicekit.metrics import exposition, redis_memory_collector, streams_collector

_databases = itertools.count(3)


@pytest.fixture
def client(redis_server) -> redis.Redis:
    """A Redis database of this test's own, emptied."""
    url = redis_server.url.rsplit("/", 1)[0] + f"/{next(_databases) % 16}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    return client


def body(n: int) -> str:
    return Event("t.thing.happened.v1", "t", {"n": n}).to_json()


def gaps(stream: str, group: str) -> float:
    labels = {"stream": stream, "group": group}
    return REGISTRY.get_sample_value("stream_consumer_gaps_total", labels) or 0.0


def test_old_entries_are_trimmed_and_student_streams_expire(client):
    publisher = StreamPublisher(client, retention_seconds=1, expiring_prefixes=("t.student.",))
    ids = publisher.publish_many(
        [("t.shared", body(n)) for n in range(250)] + [("t.student.7", body(0))]
    )
    assert len(ids) == 251 and client.xlen("t.shared") == 250
    assert 0 < client.pttl("t.student.7") <= 1000  # renewed by every publish to it
    time.sleep(1.2)
    assert not client.exists("t.student.7")  # a quiet student's stream is gone
    newest = publisher.publish("t.shared", body(250))
    assert [entry_id.decode() for entry_id, _ in client.xrange("t.shared")] == [newest]
    assert client.hget(TRIMMED_KEY, "t.shared").decode() == ids[249]  # the newest trimmed


def test_a_group_behind_the_retention_is_told_once_and_one_caught_up_is_not(client, caplog):
    publisher = StreamPublisher(client, retention_seconds=1)
    for n in range(3):
        publisher.publish("t.gap", body(n))
    behind = StreamConsumer(client, "t.gap", "behind", "c1", replay_hint="run t-announce")
    caught_up = StreamConsumer(client, "t.gap", "caught-up", "c1")
    fresh = StreamConsumer(client, "t.never-trimmed", "new", "c1")
    assert behind.poll(lambda _: None, count=1, block_ms=None) == 1  # reads one, then stops
    assert caught_up.poll(lambda _: None, block_ms=None) == 3
    assert fresh.poll(lambda _: None, block_ms=None) == 0  # nothing trimmed: no gap
    before = gaps("t.gap", "behind"), gaps("t.gap", "caught-up")

    time.sleep(1.1)
    publisher.publish("t.gap", body(3))  # trims the three older ones
    seen: list[int] = []
    with caplog.at_level(logging.ERROR, logger="servicekit.events"):
        restarted = StreamConsumer(client, "t.gap", "behind", "c2", replay_hint="run t-announce")
        assert restarted.poll(lambda e: seen.append(e.payload["n"]), block_ms=None) == 1
        assert caught_up.check_gap() is False  # it had read the last entry trimmed
        assert restarted.check_gap() is False  # read on: the stream holds the rest
    assert seen == [3]
    told = [r for r in caplog.records if "missed events" in r.getMessage()]
    assert len(told) == 1 and "run t-announce" in told[0].getMessage()
    assert "behind" in told[0].getMessage() and "t.gap" in told[0].getMessage()
    assert gaps("t.gap", "behind") == before[0] + 1
    assert gaps("t.gap", "caught-up") == before[1]


def test_a_new_group_on_a_trimmed_stream_is_told_it_starts_with_a_gap(client):
    publisher = StreamPublisher(client, retention_seconds=1)
    publisher.publish("t.rebuild", body(0))
    time.sleep(1.1)
    publisher.publish("t.rebuild", body(1))
    rebuilt = StreamConsumer(client, "t.rebuild", "rebuilt", "c1")
    rebuilt.ensure_group()
    assert rebuilt.check_gap() is True
    assert rebuilt.check_gap() is True  # still behind, but told once
    assert gaps("t.rebuild", "rebuilt") == 1


def test_scrapes_show_redis_memory_and_each_stream_and_family_size(client):
    publisher = StreamPublisher(client, expiring_prefixes=("t.size.student.",))
    publisher.publish_many(
        [("t.size.shared", body(n)) for n in range(3)]
        + [(f"t.size.student.{s}", body(s)) for s in range(5)]
        + [("t.size.student.0", body(9))]
    )
    text = exposition(
        [
            redis_memory_collector(client),
            streams_collector(client, ["t.size.shared", "t.none"], ["t.size.student."]),
        ]
    ).decode()
    lines = dict(line.rsplit(" ", 1) for line in text.splitlines() if not line.startswith("#"))
    assert float(lines["redis_used_memory_bytes"]) > 0
    assert "redis_maxmemory_bytes" in lines
    assert float(lines['stream_entries{stream="t.size.shared"}']) == 3
    assert float(lines['stream_entries{stream="t.none"}']) == 0
    assert 0 <= float(lines['stream_oldest_entry_age_seconds{stream="t.size.shared"}']) < 60
    assert float(lines['stream_family_streams{family="t.size.student.*"}']) == 5
    assert float(lines['stream_family_entries{family="t.size.student.*"}']) == 6
