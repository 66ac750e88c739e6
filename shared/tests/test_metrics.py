"""servicekit.metrics: the scrape-time collectors, a failing one, and multiprocess mode (a
counter bumped in one process shows in another's exposition through the shared directory)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import httpx
import redis
from devstack.ports import free_port, wait_for_port
from prometheus_client.parser import text_string_to_metric_families
from servicekit.db import make_engine
from servicekit.events import Event, StreamConsumer, StreamPublisher
from servicekit.metrics import (
    METRICS_PORT_ENV,
    MULTIPROC_ENV,
    ScrapeCollector,
    exposition,
    outbox_collector,
    serve_metrics_if_asked,
    stream_lag_collector,
)
from servicekit.outbox import add_to_outbox, define_outbox_table, relay_outbox
from sqlalchemy import MetaData
from sqlalchemy.orm import Session


def samples(text: bytes | str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = text.decode() if isinstance(text, bytes) else text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_outbox_backlog_and_stream_lag_are_read_at_scrape(redis_server, tmp_path):
    client = redis.Redis.from_url(redis_server.url)
    engine = make_engine(f"sqlite:///{tmp_path / 'outbox.sqlite3'}")
    metadata = MetaData()
    table = define_outbox_table(metadata)
    metadata.create_all(engine)
    consumer = StreamConsumer(client, "metrics-stream", "watchers", "one")
    consumer.ensure_group()
    collectors = [
        outbox_collector(engine, table),
        stream_lag_collector(client, [("metrics-stream", "watchers"), ("no-stream", "x")]),
    ]
    with Session(engine) as session, session.begin():
        for n in range(3):
            add_to_outbox(session, table, "metrics-stream", Event("t.thing.done.v1", "t", {"n": n}))
    backlog = samples(exposition(collectors))
    assert backlog[("outbox_unpublished_events", ())] == 3
    assert backlog[("outbox_oldest_unpublished_age_seconds", ())] >= 0

    relay_outbox(engine, table, StreamPublisher(client))
    group = (("group", "watchers"), ("stream", "metrics-stream"))
    published = samples(exposition(collectors))
    assert published[("outbox_unpublished_events", ())] == 0
    assert published[("stream_consumer_group_oldest_undelivered_age_seconds", group)] >= 0
    assert published[("stream_consumer_group_pending", group)] == 0
    if client.info()["redis_version"] >= "7":
        assert published[("stream_consumer_group_lag", group)] == 3

    ((_, delivered),) = client.xreadgroup("watchers", "one", {"metrics-stream": ">"}, count=10)
    assert len(delivered) == 3  # delivered, not acknowledged
    read = samples(exposition(collectors))
    assert read[("stream_consumer_group_oldest_undelivered_age_seconds", group)] == 0
    assert read[("stream_consumer_group_pending", group)] == 3


def test_a_failing_collector_leaves_the_rest_of_the_scrape(caplog):
    def broken():
        raise ConnectionError("database away")

    text = exposition([ScrapeCollector("broken", broken)])
    assert samples(text)[("metrics_collector_failures_total", (("collector", "broken"),))] >= 1


def test_multiprocess_mode_adds_up_every_process(tmp_path):
    env = os.environ | {MULTIPROC_ENV: str(tmp_path)}
    bump = textwrap.dedent(
        """
        from prometheus_client import Counter
        Counter("demo_things", "Things.", ["kind"]).labels("a").inc(2)
        """
    )
    for _ in range(2):  # two processes, like two Celery workers
        subprocess.run([sys.executable, "-c", bump], env=env, check=True)
    scrape = "import sys, servicekit.metrics as m; sys.stdout.write(m.exposition().decode())"
    text = subprocess.run(
        [sys.executable, "-c", scrape], env=env, check=True, capture_output=True, text=True
    ).stdout
    assert samples(text)[("demo_things_total", (("kind", "a"),))] == 4


def test_a_process_without_a_web_serves_its_metrics_when_asked(monkeypatch):
    monkeypatch.delenv(METRICS_PORT_ENV, raising=False)
    assert serve_metrics_if_asked("test-relay") is None
    port = free_port()
    monkeypatch.setenv(METRICS_PORT_ENV, str(port))
    assert serve_metrics_if_asked("test-relay") == port
    wait_for_port(port)
    answer = httpx.get(f"http://127.0.0.1:{port}/metrics")
    assert answer.status_code == 200 and "metrics_collector_failures_total" in answer.text
    assert 'service_process_start_time_seconds{process="test-relay"}' in answer.text
