"""The lottery service's metrics (see :mod:`servicekit.metrics` for how they travel).

Counted by the worker that solves a run: its duration by outcome, and the relative MIP gap it
finished with (0 when proven optimal). Read at each scrape of the web's ``/metrics``: the runs
in each unfinished status and the age of the oldest queued one, the outbox backlog, and the
lag of the relay's consumer groups.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import redis
from prometheus_client import Histogram
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

from lottery_service import events
from lottery_service.adapters.models import LotteryRunRow, outbox
from lottery_service.domain.model import RunStatus

RELAY_GROUP = "lottery"  # the relay's consumer group on the streams it reads
PENDING = (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.COMMITTING, RunStatus.REVERTING)

RUN_SECONDS = Histogram(
    "lottery_run_seconds",
    "Time a worker spent solving one run (optimise, check, measure), by outcome.",
    ["outcome"],
    buckets=(0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0),
)
RUN_GAP = Histogram(
    "lottery_run_gap",
    "Relative MIP gap a finished run ended with (0: proven optimal; greedy runs: not counted).",
    buckets=(0.0, 0.0001, 0.001, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0),
)

_runs = LotteryRunRow.__table__.c
RUNS_BY_STATUS = (
    select(_runs.status, func.count(), func.min(_runs.enqueued_at))
    .where(_runs.status.in_([str(s) for s in PENDING]))
    .group_by(_runs.status)
)


def record_run(outcome: str, seconds: float, stats: dict[str, Any] | None = None) -> None:
    RUN_SECONDS.labels(outcome).observe(seconds)
    solver = (stats or {}).get("solver") or {}
    if solver.get("optimal"):
        RUN_GAP.observe(0.0)
    elif solver.get("gap") is not None:
        RUN_GAP.observe(float(solver["gap"]))


def runs_collector(engine: Engine) -> ScrapeCollector:
    """Runs per unfinished status (every one reported, 0 when none) and the oldest queued."""

    def read() -> Iterable[Metric]:
        with engine.connect() as connection:
            rows = connection.execute(RUNS_BY_STATUS).all()
        found = {str(status): (count, oldest) for status, count, oldest in rows}
        runs = GaugeMetricFamily(
            "lottery_runs", "Lottery runs in an unfinished status.", labels=["status"]
        )
        for status in PENDING:
            runs.add_metric([str(status)], found.get(str(status), (0, None))[0])
        oldest = found.get(str(RunStatus.QUEUED), (0, None))[1]
        age = GaugeMetricFamily(
            "lottery_oldest_queued_run_age_seconds",
            "Seconds since the oldest queued run was sent to the workers (0: none).",
            age_seconds(oldest),
        )
        return [runs, age]

    return ScrapeCollector("lottery_runs", read)


def scrape_collectors(engine: Engine, client: redis.Redis) -> list[Collector]:
    """What the lottery web's ``/metrics`` reads at each scrape."""
    streams = (events.CATALOG_STREAM, events.PROFILES_STREAM, events.OUTCOMES_STREAM)
    return [
        runs_collector(engine),
        outbox_collector(engine, outbox),
        stream_lag_collector(client, [(stream, RELAY_GROUP) for stream in streams]),
        streams_collector(client, [events.RUNS_STREAM]),  # what it publishes
        redis_memory_collector(client),
    ]
