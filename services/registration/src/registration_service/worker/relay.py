"""The registration service's background process: publishes the outbox to Redis Streams, rings
the partitions of requests still queued after ``REQUEUE_AFTER_SECONDS`` (a doorbell lost between
commit and broker, or by the broker), and applies the profile service's events to the read model
of complete profiles.

Run one per deployment: ``python -m registration_service.worker.relay``.
"""

from __future__ import annotations

import logging
import socket
import time
from datetime import timedelta

from servicekit.background import apply_events, run_forever
from servicekit.events import StreamConsumer
from servicekit.logging_setup import configure_logging
from servicekit.outbox import relay_outbox

from registration_service.adapters.models import outbox
from registration_service.events import PROFILES_STREAM
from registration_service.messaging import decision_queue
from registration_service.use_cases.profiles import handle_profile_event
from registration_service.use_cases.requests import mark_swept, stale_partitions
from registration_service.worker.resources import resources

log = logging.getLogger(__name__)

CONSUMER_GROUP = "registration"


def sweep_once() -> int:
    """Ring each partition that still holds a stale queued request and whose queue has drained.

    During a rush a queue may hold a doorbell for a long time; while it does, that doorbell will
    drain the partition, so ringing again would only add work. Once the queue is empty and the
    request is still queued, its doorbell was lost (or never sent: the broker was down).
    """
    res = resources()
    older_than = timedelta(seconds=res.settings.requeue_after_seconds)
    with res.sessions() as session, session.begin():
        stale = stale_partitions(session, older_than, res.settings.decision_partitions)
        silent = [p for p in stale if res.redis.llen(decision_queue(p)) == 0]
        mark_swept(session, silent, older_than)  # rung now; not again for a while
    for partition in silent:
        res.doorbells.ring_anyway(partition)
    if silent:
        log.warning("rang partitions %s: they hold requests queued too long", silent)
    return len(silent)


def main() -> None:
    res = resources()
    configure_logging(res.settings.log_level, "registration-relay")
    profiles = StreamConsumer(res.redis, PROFILES_STREAM, CONSUMER_GROUP, socket.gethostname())
    next_sweep = 0.0

    def publish_outbox() -> int:
        return relay_outbox(res.engine, outbox, res.publisher)

    def sweep() -> int:
        nonlocal next_sweep
        if time.monotonic() < next_sweep:
            return 0
        next_sweep = time.monotonic() + res.settings.sweep_interval_seconds
        return sweep_once()

    def apply_profile_events() -> int:
        return apply_events(profiles, res.sessions, handle_profile_event)

    run_forever([publish_outbox, sweep, apply_profile_events])


if __name__ == "__main__":
    main()
