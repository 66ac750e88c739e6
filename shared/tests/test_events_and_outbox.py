"""The event plumbing against a real Redis server and a real SQLite database."""

import pytest
import redis
from devstack.redis_server import RedisServer
from servicekit.db import make_engine
from servicekit.events import ENVELOPE_FIELD, Event, StreamConsumer, StreamPublisher
from servicekit.outbox import OutboxRelay, add_to_outbox, define_outbox_table, relay_outbox
from sqlalchemy import MetaData, select
from sqlalchemy.orm import Session


def test_event_round_trip_ignores_unknown_fields():
    event = Event("test.thing.happened.v1", "test", {"n": 1})
    raw = event.to_json().replace('"payload"', '"extra":1,"payload"')
    assert Event.from_json(raw) == event


def test_outbox_relay_publishes_in_order_once_and_consumer_group_replays(redis_server, tmp_path):
    client = redis.Redis.from_url(redis_server.url)
    engine = make_engine(f"sqlite:///{tmp_path / 'outbox.sqlite3'}")
    metadata = MetaData()
    table = define_outbox_table(metadata)
    metadata.create_all(engine)
    events = [Event("test.thing.happened.v1", "test", {"n": n}) for n in range(3)]
    with Session(engine) as session, session.begin():
        for event in events:
            add_to_outbox(session, table, "test-stream-1", event)
    with Session(engine) as session:
        session.begin()
        add_to_outbox(session, table, "test-stream-1", Event("test.rolled.back.v1", "test", {}))
        session.rollback()  # never committed: never published

    publisher = StreamPublisher(client)
    assert relay_outbox(engine, table, publisher) == 3
    assert relay_outbox(engine, table, publisher) == 0
    with engine.connect() as connection:
        assert all(connection.execute(select(table.c.published_at)).scalars())

    seen: list[Event] = []
    consumer = StreamConsumer(client, "test-stream-1", "test-group", "c1")
    while consumer.poll(seen.append, block_ms=10):
        pass
    assert [e.payload["n"] for e in seen] == [0, 1, 2]
    assert [e.event_id for e in seen] == [e.event_id for e in events]

    # A second group (a fresh read model) replays the stream from its start.
    replay: list[Event] = []
    fresh = StreamConsumer(client, "test-stream-1", "rebuild-group", "c1")
    while fresh.poll(replay.append, block_ms=10):
        pass
    assert len(replay) == 3


def test_unacknowledged_entries_are_redelivered_to_a_restarted_consumer(redis_server):
    client = redis.Redis.from_url(redis_server.url)
    StreamPublisher(client).publish("test-stream-2", Event("t.x.y.v1", "t", {"n": 1}).to_json())

    def crash(_event: Event) -> None:
        raise RuntimeError("handler died before acknowledging")

    consumer = StreamConsumer(client, "test-stream-2", "g", "c1")
    with pytest.raises(RuntimeError):
        consumer.poll(crash, block_ms=10)
    seen: list[Event] = []
    restarted = StreamConsumer(client, "test-stream-2", "g", "c1")
    restarted.poll(seen.append, block_ms=10)
    assert [e.payload for e in seen] == [{"n": 1}]


def test_a_failed_entry_is_retried_by_the_same_consumer_before_anything_newer(redis_server):
    client = redis.Redis.from_url(redis_server.url)
    publisher = StreamPublisher(client)
    publisher.publish("test-stream-3", Event("t.x.y.v1", "t", {"n": 1}).to_json())
    consumer = StreamConsumer(client, "test-stream-3", "g", "c1")

    def database_down(_event: Event) -> None:
        raise RuntimeError("database down")

    with pytest.raises(RuntimeError):
        consumer.poll(database_down)
    publisher.publish("test-stream-3", Event("t.x.y.v1", "t", {"n": 2}).to_json())
    seen: list[Event] = []
    consumer.poll(seen.append, block_ms=None)  # the failed entry first, never skipped
    consumer.poll(seen.append, block_ms=None)
    assert [e.payload for e in seen] == [{"n": 1}, {"n": 2}]


def test_a_pending_entry_trimmed_from_the_stream_is_dropped_not_retried_forever(redis_server):
    """Streams are capped (MAXLEN): an entry can go while it is pending. Redis then returns it
    without fields; the consumer acknowledges it and moves on instead of failing every poll."""
    client = redis.Redis.from_url(redis_server.url)
    publisher = StreamPublisher(client)
    entry_id = publisher.publish("test-stream-4", Event("t.x.y.v1", "t", {"n": 1}).to_json())
    consumer = StreamConsumer(client, "test-stream-4", "g", "c1")

    def crash(_event: Event) -> None:
        raise RuntimeError("handler died before acknowledging")

    with pytest.raises(RuntimeError):
        consumer.poll(crash, block_ms=None)
    client.xdel("test-stream-4", entry_id)  # trimmed while pending
    publisher.publish("test-stream-4", Event("t.x.y.v1", "t", {"n": 2}).to_json())
    seen: list[Event] = []
    consumer.poll(seen.append, block_ms=None)  # the pending, trimmed entry: dropped
    consumer.poll(seen.append, block_ms=None)
    assert [e.payload for e in seen] == [{"n": 2}]
    assert client.xpending("test-stream-4", "g")["pending"] == 0


def test_apply_once_applies_each_event_id_once(tmp_path):
    from servicekit.background import apply_once
    from sqlalchemy import String
    from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

    class Base(DeclarativeBase):
        pass

    class Applied(Base):
        __tablename__ = "applied"
        event_id: Mapped[str] = mapped_column(String(64), primary_key=True)

    engine = make_engine(f"sqlite:///{tmp_path / 'applied.sqlite3'}")
    Base.metadata.create_all(engine)
    with Session(engine) as session, session.begin():
        assert apply_once(session, Applied, "e1") is True
        assert apply_once(session, Applied, "e1") is False
    with Session(engine) as session, session.begin():
        assert apply_once(session, Applied, "e1") is False
        assert apply_once(session, Applied, "e2") is True


def test_publish_many_appends_in_order_in_one_round_trip(redis_server):
    client = redis.Redis.from_url(redis_server.url)
    client.delete("many.a", "many.b")
    entries = [("many.a", '{"n": 1}'), ("many.b", '{"n": 2}'), ("many.a", '{"n": 3}')]
    ids = StreamPublisher(client).publish_many(entries)
    assert len(ids) == 3 and ids[0] < ids[2]
    bodies = [fields[ENVELOPE_FIELD.encode()] for _, fields in client.xrange("many.a")]
    assert bodies == [b'{"n": 1}', b'{"n": 3}']
    assert client.xlen("many.b") == 1


def test_after_a_redis_crash_the_relay_publishes_again_only_what_redis_lost(tmp_path):
    """A Redis of its own, killed with SIGKILL and started again on its data: the relay notices
    the new run id and publishes again each recent event its stream no longer holds (one is
    deleted to stand for the last second Redis lost), and nothing it still holds."""
    server = RedisServer(tmp_path / "redis").start()
    try:
        client = redis.Redis.from_url(server.url)
        engine = make_engine(f"sqlite:///{tmp_path / 'outbox.sqlite3'}")
        metadata = MetaData()
        table = define_outbox_table(metadata)
        metadata.create_all(engine)
        events = [Event("test.thing.happened.v1", "test", {"n": n}) for n in range(4)]
        with Session(engine) as session, session.begin():
            for event in events[:3]:
                add_to_outbox(session, table, "shared-stream", event)
            add_to_outbox(session, table, ("shared-stream", "student-stream"), events[3])
        relay = OutboxRelay(engine, table, StreamPublisher(client))
        assert relay.recover() == 0  # its start-up check: everything is there
        assert relay.publish() == 5
        assert relay.recover() == 0  # same Redis: nothing to check
        client.save()  # on disk now, whatever the append-only file's next sync

        server.kill()
        server.start()
        lost_id, _ = client.xrange("shared-stream", count=2)[1]
        client.xdel("shared-stream", lost_id)  # what the crash lost
        client.delete("student-stream")
        assert relay.recover() == 2
        assert relay.recover() == 0
        kept = [
            Event.from_json(f[ENVELOPE_FIELD.encode()]) for _, f in client.xrange("shared-stream")
        ]
        assert sorted(e.payload["n"] for e in kept) == [0, 1, 2, 3]
        student = client.xrange("student-stream")
        assert [Event.from_json(f[ENVELOPE_FIELD.encode()]).event_id for _, f in student] == [
            events[3].event_id
        ]
    finally:
        server.stop()


def test_a_recovery_that_fails_is_tried_again(tmp_path):
    """Redis still coming back: the check fails, and the next one still republishes."""
    server = RedisServer(tmp_path / "redis").start()
    try:
        client = redis.Redis.from_url(server.url)
        engine = make_engine(f"sqlite:///{tmp_path / 'outbox.sqlite3'}")
        metadata = MetaData()
        table = define_outbox_table(metadata)
        metadata.create_all(engine)
        with Session(engine) as session, session.begin():
            add_to_outbox(session, table, "again-stream", Event("test.t.v1", "test", {}))
        relay = OutboxRelay(engine, table, StreamPublisher(client))
        relay.publish()
        relay.recover()
        server.kill()
        with pytest.raises(redis.ConnectionError):
            relay.recover()
        server.start()
        client.delete("again-stream")
        assert relay.recover() == 1
    finally:
        server.stop()
