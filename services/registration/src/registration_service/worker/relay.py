"""The registration service's background process: publishes the outbox to Redis Streams,
re-sends requests still queued after ``REQUEUE_AFTER_SECONDS`` (a message lost between commit and
broker, or by the broker), and applies the profile service's events to the read model of
complete profiles.

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
from registration_service.messaging import decision_queue, send_decision
from registration_service.use_cases.profiles import PROFILES_STREAM, handle_profile_event
from registration_service.use_cases.requests import mark_resent, stale_requests
from registration_service.worker.resources import resources

log = logging.getLogger(__name__)

CONSUMER_GROUP = "registration"


def sweep_once() -> int:
    """Re-send stale queued requests whose partition queue has drained.

    A request can wait in a long queue during a rush; while its queue still holds messages its
    own message is most likely among them, so re-sending would only add duplicates. Once the
    queue is empty and the request is still undecided, its message was lost.
    """
    res = resources()
    with res.sessions() as session, session.begin():
        stale = stale_requests(session, timedelta(seconds=res.settings.requeue_after_seconds))
        partitions = res.settings.decision_partitions
        drained: dict[str, bool] = {}
        lost = []
        for request_id, section_id in stale:
            queue = decision_queue(section_id, partitions)
            if queue not in drained:
                drained[queue] = res.redis.llen(queue) == 0
            if drained[queue]:
                lost.append((request_id, section_id))
        mark_resent(session, [request_id for request_id, _ in lost])
    for request_id, section_id in lost:
        send_decision(res.celery, res.settings, request_id, section_id)
    if lost:
        log.warning("re-sent %d requests still queued", len(lost))
    return len(lost)


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
