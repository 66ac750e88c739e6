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
from registration_service.messaging import send_decision
from registration_service.use_cases.requests import claim_stale
from registration_service.worker.resources import resources

log = logging.getLogger(__name__)


def sweep_once() -> int:
    res = resources()
    with res.sessions() as session, session.begin():
        stale = claim_stale(session, timedelta(seconds=res.settings.requeue_after_seconds))
    for request_id, section_id in stale:
        send_decision(res.celery, res.settings, request_id, section_id)
    if stale:
        log.warning("re-sent %d requests still queued", len(stale))
    return len(stale)


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
