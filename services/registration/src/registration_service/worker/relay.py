"""The registration service's background process: publishes the outbox to Redis Streams (and
again what a Redis crash lost: :class:`servicekit.outbox.OutboxRelay`), rings
the partitions of requests still queued after ``REQUEUE_AFTER_SECONDS`` (a doorbell lost between
commit and broker, or by the broker), releases the fair openings whose window has closed,
applies the profile service's events to the read model of complete profiles, and stores the
lottery service's commits and reverts as queued requests.

Run one per deployment: ``python -m registration_service.worker.relay``.
"""

from __future__ import annotations

import logging
import socket
from datetime import timedelta

from servicekit.background import apply_events, every, run_forever
from servicekit.events import Event, StreamConsumer
from servicekit.logging_setup import configure_logging
from servicekit.metrics import serve_metrics_if_asked
from servicekit.outbox import OutboxRelay
from sqlalchemy.orm import Session

from registration_service.adapters.models import outbox
from registration_service.events import LOTTERY_STREAM, PROFILES_STREAM
from registration_service.messaging import decision_queue
from registration_service.metrics import SWEEPER_RESENDS
from registration_service.use_cases.lottery_commits import handle_lottery_event
from registration_service.use_cases.opening import release_due
from registration_service.use_cases.profiles import handle_profile_event
from registration_service.use_cases.requests import mark_swept, stale_partitions
from registration_service.worker.resources import Resources, resources

log = logging.getLogger(__name__)

CONSUMER_GROUP = "registration"
# What stages again the events of a stream this relay missed (older than the retention).
PROFILES_REPLAY = "run profile-announce-profiles in the profile service"
LOTTERY_REPLAY = "run lottery-announce-runs in the lottery service"


def sweep_once() -> int:
    """Ring each partition that still holds a stale queued request and whose queue has drained.

    During a rush a queue may hold a doorbell for a long time; while it does, that doorbell will
    drain the partition, so ringing again would only add work. Once the queue is empty and the
    request is still queued, its doorbell was lost (or never sent: the broker was down).
    """
    res = resources()
    release_openings(res)
    older_than = timedelta(seconds=res.settings.requeue_after_seconds)
    with res.sessions() as session, session.begin():
        stale = stale_partitions(session, older_than, res.settings.decision_partitions)
        silent = [p for p in stale if res.redis.llen(decision_queue(p)) == 0]
        mark_swept(session, silent, older_than)  # rung now; not again for a while
    for partition in silent:
        res.doorbells.ring_anyway(partition)
    SWEEPER_RESENDS.inc(len(silent))
    if silent:
        log.warning("rang partitions %s: they hold requests queued too long", silent)
    return len(silent)


def release_openings(res: Resources) -> list[int]:
    """Release every fair opening whose window has closed (one transaction), then ring the
    partitions it queued requests in. A ring lost here is made up by the stale-request sweep."""
    with res.sessions() as session, session.begin():
        partitions = release_due(session)
    if partitions:
        log.info("released waiting requests into partitions %s", partitions)
        res.doorbells.ring(partitions)
    return partitions


def apply_lottery_events(consumer: StreamConsumer, res: Resources) -> int:
    """Store the lottery's commits and reverts as queued requests, each event in its own
    transaction, then ring the partitions they went to. A ring lost here (the broker down, an
    event failing after earlier ones committed) is the sweeper's to make up."""
    touched: set[int] = set()

    def handle(session: Session, event: Event) -> bool:
        partitions = res.settings.decision_partitions
        rung = handle_lottery_event(session, event, partitions=partitions)
        touched.update(rung or ())
        return rung is not None

    try:  # a part holds up to 1,000 requests: ring after ten, not after a hundred
        return apply_events(consumer, res.sessions, handle, count=10)
    finally:
        res.doorbells.ring(touched)


def main() -> None:
    res = resources()
    configure_logging(res.settings.log_level, "registration-relay")
    serve_metrics_if_asked("registration-relay")
    name = socket.gethostname()
    profiles = StreamConsumer(
        res.redis, PROFILES_STREAM, CONSUMER_GROUP, name, replay_hint=PROFILES_REPLAY
    )
    lottery = StreamConsumer(
        res.redis, LOTTERY_STREAM, CONSUMER_GROUP, name, replay_hint=LOTTERY_REPLAY
    )
    interval = res.settings.sweep_interval_seconds

    relay = OutboxRelay(res.engine, outbox, res.publisher)

    def publish_outbox() -> int:
        return relay.publish()

    def republish_what_redis_lost() -> int:
        return relay.recover()

    def release_due_openings() -> int:
        return len(release_openings(res))

    def apply_profile_events() -> int:
        return apply_events(profiles, res.sessions, handle_profile_event)

    def apply_lottery_commits() -> int:
        return apply_lottery_events(lottery, res)

    # Two sweeps, each its own cycle: a release that fails never stops the stale-request sweep,
    # the safety net under every doorbell.
    run_forever(
        [
            publish_outbox,
            every(1.0, republish_what_redis_lost),
            every(interval, release_due_openings),
            every(interval, sweep_once),
            apply_profile_events,
            apply_lottery_commits,
        ]
    )


if __name__ == "__main__":
    main()
