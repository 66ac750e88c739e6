"""Prometheus metrics without the web stack: the exposition, scrape-time collectors, and the
multiprocess setup every process of a service shares.

One service runs several processes (gunicorn's workers, the Celery workers, the relay). When
``PROMETHEUS_MULTIPROC_DIR`` names a directory, every process of the service writes its
counters and histograms there (prometheus-client's multiprocess mode) and the web's
``/metrics`` adds them all up; so a decision counted by a Celery worker shows on the web's
``/metrics``. Give each service its own directory, empty it before the service's processes
start, and set the variable before any of them imports ``prometheus_client``. Without the
variable each process exposes only its own registry (tests, a single-process dev server).

What a scrape can compute cheaply from the database or Redis (queue depth, outbox backlog,
stream lag) is not counted by anyone: a :class:`ScrapeCollector` reads it when scraped, so it
is right whichever process changed it, and no process has to be alive to report it.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import redis
from prometheus_client import (
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    disable_created_metrics,
    generate_latest,
    start_http_server,
)
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from sqlalchemy import Engine, Table, func, select

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # the Prometheus text format

# No `*_created` series: Prometheus does not need them. (prometheus-client is untyped here.)
disable_created_metrics()  # type: ignore[no-untyped-call]

COLLECTOR_FAILURES = Counter(
    "metrics_collector_failures",
    "Scrape-time collectors that raised (their metrics are missing from that scrape).",
    ["collector"],
)


STREAM_CONSUMER_GAPS = Counter(
    "stream_consumer_gaps",
    "Times a consumer group was found to have missed stream entries trimmed for their age "
    "(the producing service's replay command stages them again; see the runbook).",
    ["stream", "group"],
)


PROCESS_STARTED = Gauge(
    "service_process_start_time_seconds",
    "When each process of the service started: a process restarted shows as a new series "
    "(count by process, or changes() under a per-container scrape).",
    ["process"],
    multiprocess_mode="all",  # one series per pid, kept after the process exits
)


def mark_process_started(process: str) -> None:
    """Record this process's start (``registration-relay``, ``registration-web``, ...)."""
    PROCESS_STARTED.labels(process).set(time.time())


def multiprocess_dir() -> str | None:
    """The directory every process of this service shares its metrics through, if any."""
    return os.environ.get(MULTIPROC_ENV) or None


class ScrapeCollector(Collector):
    """Metrics computed when scraped by ``read``. A failure (the database or Redis away) is
    logged and counted; the rest of the scrape still answers."""

    def __init__(self, name: str, read: Callable[[], Iterable[Metric]]) -> None:
        self.name = name
        self._read = read

    def collect(self) -> Iterator[Metric]:
        try:
            metrics = list(self._read())
        except Exception as exc:  # a scrape must answer even when a dependency does not
            log.warning("metrics collector %s failed: %s: %s", self.name, type(exc).__name__, exc)
            COLLECTOR_FAILURES.labels(self.name).inc()
            return iter(())
        return iter(metrics)


class _Chain(Collector):
    def __init__(self, base: Collector, metrics: list[Metric]) -> None:
        self._base = base
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        yield from self._base.collect()
        yield from self._metrics


def exposition(collectors: Sequence[Collector] = ()) -> bytes:
    """The text a scrape answers: every process's metrics (multiprocess mode) or this
    process's registry, then the scrape-time ``collectors``."""
    # Read first, so that a collector failing now is counted in this very scrape.
    read_now = [metric for collector in collectors for metric in collector.collect()]
    base: Collector = REGISTRY
    if multiprocess_dir():
        base = CollectorRegistry()
        MultiProcessCollector(base)  # type: ignore[no-untyped-call]  # registers itself there
    return generate_latest(_Chain(base, read_now))


METRICS_PORT_ENV = "METRICS_PORT"


def serve_metrics_if_asked(process: str) -> int | None:
    """Record that ``process`` (a worker or relay, which has no web) started, and serve its
    metrics on ``METRICS_PORT`` when that is set: under compose each container is scraped by
    itself; under ``make up`` the web's /metrics already adds up the service's processes. The
    port, or None."""
    mark_process_started(process)
    port = os.environ.get(METRICS_PORT_ENV)
    if not port:
        return None
    registry: CollectorRegistry = REGISTRY
    if multiprocess_dir():
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # registers itself
    start_http_server(int(port), registry=registry)
    return int(port)


def outbox_collector(engine: Engine, table: Table) -> ScrapeCollector:
    """``outbox_unpublished_events`` and the age of the oldest one: one indexed query."""
    query = select(func.count(), func.min(table.c.created_at)).where(table.c.published_at.is_(None))

    def read() -> Iterable[Metric]:
        with engine.connect() as connection:
            count, oldest = connection.execute(query).one()
        yield GaugeMetricFamily(
            "outbox_unpublished_events", "Outbox rows not yet published to Redis.", count
        )
        yield GaugeMetricFamily(
            "outbox_oldest_unpublished_age_seconds",
            "Seconds since the oldest unpublished outbox row was written (0 when none).",
            age_seconds(oldest),
        )

    return ScrapeCollector("outbox", read)


def stream_lag_collector(client: redis.Redis, groups: Sequence[tuple[str, str]]) -> ScrapeCollector:
    """Per (stream, consumer group): the age of the oldest entry not yet delivered to the group
    (0 when caught up), entries delivered but not acknowledged (``pending``), and, on Redis 7+
    which counts it, entries not yet delivered (``lag``). Two cheap calls per group: XINFO
    GROUPS and an XRANGE of one entry after the group's last delivered id."""

    def read() -> Iterable[Metric]:
        labels = ["stream", "group"]
        age = GaugeMetricFamily(
            "stream_consumer_group_oldest_undelivered_age_seconds",
            "Seconds since the oldest stream entry not yet delivered to the group was added.",
            labels=labels,
        )
        lag = GaugeMetricFamily(
            "stream_consumer_group_lag",
            "Stream entries not yet delivered to the consumer group (Redis 7+ only).",
            labels=labels,
        )
        pending = GaugeMetricFamily(
            "stream_consumer_group_pending",
            "Stream entries delivered to the consumer group and not yet acknowledged.",
            labels=labels,
        )
        for stream, group in groups:
            for info in _groups_of(client, stream):
                if _text(info.get("name")) != group:
                    continue
                last = _text(info.get("last-delivered-id") or "0-0")
                age.add_metric([stream, group], _undelivered_age(client, stream, last))
                if info.get("lag") is not None:
                    lag.add_metric([stream, group], float(info["lag"]))
                pending.add_metric([stream, group], float(info.get("pending") or 0))
        return [age, lag, pending]

    return ScrapeCollector("streams", read)


def redis_memory_collector(client: redis.Redis) -> ScrapeCollector:
    """Redis's ``used_memory`` and ``maxmemory`` (0: no limit), from one INFO memory. With
    ``noeviction``, Redis at its limit refuses writes: alarm well before (runbook)."""

    def read() -> Iterable[Metric]:
        info = client.info("memory")
        yield GaugeMetricFamily(
            "redis_used_memory_bytes", "Memory Redis uses (INFO used_memory).", info["used_memory"]
        )
        yield GaugeMetricFamily(
            "redis_maxmemory_bytes",
            "Redis's maxmemory (0: no limit; at the limit, noeviction refuses writes).",
            info.get("maxmemory", 0),
        )

    return ScrapeCollector("redis_memory", read)


FAMILY_SCAN_COUNT = 1000  # keys per SCAN step, and XLENs per pipeline, for a family


def streams_collector(
    client: redis.Redis, streams: Sequence[str], families: Sequence[str] = ()
) -> ScrapeCollector:
    """Each of ``streams``: its entries and the age of its oldest (one pipeline). Each family
    (streams named ``<prefix>*``, one per student): how many streams and entries in all, not a
    series per stream; that is a SCAN and an XLEN per stream, in pipelines of a thousand."""

    def read() -> Iterable[Metric]:
        entries = GaugeMetricFamily(
            "stream_entries", "Entries the stream holds.", labels=["stream"]
        )
        age = GaugeMetricFamily(
            "stream_oldest_entry_age_seconds",
            "Seconds since the stream's oldest entry was added (0 when empty): at most about "
            "the retention (STREAM_RETENTION_SECONDS) while the service publishes.",
            labels=["stream"],
        )
        pipeline = client.pipeline(transaction=False)
        for stream in streams:
            pipeline.xlen(stream)
            pipeline.xrange(stream, count=1)
        found = pipeline.execute()
        for index, stream in enumerate(streams):
            length, first = found[2 * index], found[2 * index + 1]
            entries.add_metric([stream], float(length))
            age.add_metric([stream], _entry_age(_text(first[0][0])) if first else 0.0)
        count = GaugeMetricFamily(
            "stream_family_streams", "Streams named <family>*.", labels=["family"]
        )
        total = GaugeMetricFamily(
            "stream_family_entries", "Entries in all streams named <family>*.", labels=["family"]
        )
        for family in families:
            streams_found, entries_found = _family_size(client, family)
            count.add_metric([family + "*"], float(streams_found))
            total.add_metric([family + "*"], float(entries_found))
        return [entries, age, count, total]

    return ScrapeCollector("streams_size", read)


def _family_size(client: redis.Redis, prefix: str) -> tuple[int, int]:
    keys: list[Any] = []
    streams = entries = 0
    for key in client.scan_iter(match=prefix + "*", count=FAMILY_SCAN_COUNT, _type="stream"):
        keys.append(key)
        if len(keys) == FAMILY_SCAN_COUNT:
            streams, entries = streams + len(keys), entries + _lengths(client, keys)
            keys = []
    return streams + len(keys), entries + _lengths(client, keys)


def _lengths(client: redis.Redis, keys: Sequence[Any]) -> int:
    if not keys:
        return 0
    pipeline = client.pipeline(transaction=False)
    for key in keys:
        pipeline.xlen(key)
    return sum(int(n) for n in pipeline.execute())


def _entry_age(entry_id: str) -> float:
    added_ms = int(entry_id.split("-")[0])  # an entry id starts with its time in ms
    return max(0.0, time.time() - added_ms / 1000)


def _undelivered_age(client: redis.Redis, stream: str, last_delivered: str) -> float:
    after = client.xrange(stream, min=f"({last_delivered}", count=1)
    return _entry_age(_text(after[0][0])) if after else 0.0


def _groups_of(client: redis.Redis, stream: str) -> list[dict[str, Any]]:
    try:
        found = client.xinfo_groups(stream)
    except redis.ResponseError:  # no such stream yet: nothing published, nothing behind
        return []
    return list(found)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def age_seconds(moment: datetime | None) -> float:
    """Seconds since ``moment`` (naive values are UTC, as SQLite returns them); 0 for None."""
    if moment is None:
        return 0.0
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (datetime.now(UTC) - moment).total_seconds())
