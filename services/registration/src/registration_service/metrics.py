"""The registration service's metrics (see :mod:`servicekit.metrics` for how they travel).

Counted where they happen, by whichever process: decisions by outcome and reason, each batch's
decision time, the time from a request's 202 to its decision (``decided_at - created_at``), and
the sweeper's re-sends. Read at each scrape of the web's ``/metrics``: each partition's queue
depth and the age of its oldest queued request, the outbox backlog, the lag of the relay's
consumer groups, the size and oldest entry of each stream it publishes (the students' streams
summed up) and Redis's memory.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import redis
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from servicekit.metrics import (
    ScrapeCollector,
    age_seconds,
    outbox_collector,
    redis_memory_collector,
    stream_lag_collector,
    streams_collector,
)
from sqlalchemy import Engine, func, select

from registration_service.adapters.models import RegistrationRequestRow, outbox
from registration_service.domain.model import RequestStatus
from registration_service.events import (
    CATALOG_STREAM,
    LOTTERY_STREAM,
    OUTCOMES_STREAM,
    PROFILES_STREAM,
    STUDENT_STREAM_PREFIX,
)

RELAY_GROUP = "registration"  # the relay's consumer group on the streams it reads

DECISIONS = Counter(
    "registration_decisions",
    "Requests decided by the partition drainers, by outcome (accepted/rejected) and reason.",
    ["outcome", "reason"],
)
DECISION_BATCH_SECONDS = Histogram(
    "registration_decision_batch_seconds",
    "Time to decide one batch of a partition's queued requests, in one transaction.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
REQUEST_TO_DECISION_SECONDS = Histogram(
    "registration_request_to_decision_seconds",
    "Time from a request's 202 (stored queued) to its decision.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0),
)
LIVE_STREAMS_OPEN = Gauge(
    "registration_outcome_streams_open",
    "Outcome streams (students' open pages) held by the web processes.",
    multiprocess_mode="livesum",
)
LIVE_DELIVERIES = Counter(
    "registration_outcome_stream_deliveries",
    "Outcome events handed to open pages by the web processes' fan-out.",
)
LIVE_REPLAYED = Counter(
    "registration_outcome_stream_replayed",
    "Outcomes given to resumed pages from the database: older than their student's stream.",
)
LIVE_STREAMS_DROPPED = Counter(
    "registration_outcome_streams_dropped",
    "Open pages closed because they fell too far behind (the browser resumes by Last-Event-ID).",
)
SWEEPER_RESENDS = Counter(
    "registration_sweeper_resends",
    "Partitions the sweeper rang again because they held requests queued too long.",
)

_requests = RegistrationRequestRow.__table__.c
QUEUE_DEPTH = (
    select(_requests.decision_partition, func.count(), func.min(_requests.created_at))
    .where(_requests.status == RequestStatus.QUEUED)
    .group_by(_requests.decision_partition)
)


def record_decision(
    outcome: str,
    reason: str | None,
    created_at: datetime | None = None,
    decided_at: datetime | None = None,
) -> None:
    """Count one committed decision (and its 202-to-decision time when both times are known)."""
    DECISIONS.labels(outcome, reason or "").inc()
    if created_at is not None and decided_at is not None:
        REQUEST_TO_DECISION_SECONDS.observe(max(0.0, _seconds_between(created_at, decided_at)))


def _seconds_between(start: datetime, end: datetime) -> float:
    # SQLite hands back naive UTC values: compare like with like.
    if (start.tzinfo is None) != (end.tzinfo is None):
        start, end = start.replace(tzinfo=None), end.replace(tzinfo=None)
    return (end - start).total_seconds()


def queue_collector(engine: Engine, partitions: int) -> ScrapeCollector:
    """Each partition's queued requests and the age of its oldest: one grouped query over the
    partial index of queued requests. Every partition is reported, an empty one as 0."""

    def read() -> Iterable[Metric]:
        with engine.connect() as connection:
            rows = connection.execute(QUEUE_DEPTH).all()
        found = {int(partition): (count, oldest) for partition, count, oldest in rows}
        depth = GaugeMetricFamily(
            "registration_queue_depth",
            "Requests stored queued and not yet decided, per decision partition.",
            labels=["partition"],
        )
        age = GaugeMetricFamily(
            "registration_queue_oldest_age_seconds",
            "Seconds since the oldest queued request of the partition got its 202 (0: none).",
            labels=["partition"],
        )
        for partition in sorted(set(range(partitions)) | set(found)):
            count, oldest = found.get(partition, (0, None))
            depth.add_metric([str(partition)], count)
            age.add_metric([str(partition)], age_seconds(oldest))
        return [depth, age]

    return ScrapeCollector("registration_queue", read)


def scrape_collectors(engine: Engine, client: redis.Redis, partitions: int) -> list[Collector]:
    """What the registration web's ``/metrics`` reads at each scrape."""
    return [
        queue_collector(engine, partitions),
        outbox_collector(engine, outbox),
        stream_lag_collector(
            client, [(PROFILES_STREAM, RELAY_GROUP), (LOTTERY_STREAM, RELAY_GROUP)]
        ),
        # What it publishes; the students' streams summed up, not a series per student.
        streams_collector(client, [CATALOG_STREAM, OUTCOMES_STREAM], [STUDENT_STREAM_PREFIX]),
        redis_memory_collector(client),
    ]
