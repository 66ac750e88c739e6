"""The relay process: publishes the outbox to Redis Streams and re-sends requests still queued
after ``REQUEUE_AFTER_SECONDS`` (a message lost between commit and broker, or by the broker).

Run one per deployment: ``python -m registration_service.worker.relay``.
"""

from __future__ import annotations

import logging
import signal
import time
from datetime import timedelta

from servicekit.logging_setup import configure_logging
from servicekit.outbox import relay_outbox

from registration_service.adapters.models import outbox
from registration_service.messaging import decision_queue, send_decision
from registration_service.use_cases.requests import mark_resent, stale_requests
from registration_service.worker.resources import resources

log = logging.getLogger(__name__)


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
    running = True

    def stop(*_: object) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    next_sweep = 0.0
    while running:
        try:
            published = relay_outbox(res.engine, outbox, res.publisher)
            if time.monotonic() >= next_sweep:
                sweep_once()
                next_sweep = time.monotonic() + res.settings.sweep_interval_seconds
        except Exception:  # Redis or the database is down: keep trying, never exit
            log.warning("relay cycle failed; retrying", exc_info=True)
            published = 0
            time.sleep(1)
        if not published:
            time.sleep(0.1)


if __name__ == "__main__":
    main()
