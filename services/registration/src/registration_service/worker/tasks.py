"""Decision tasks: thin. A doorbell drains its partition; the use cases decide and stage their
events; the relay process publishes the outbox in batches."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from registration_service.adapters.models import RegistrationRequestRow
from registration_service.messaging import DECIDE_TASK, DRAIN_TASK
from registration_service.use_cases.decisions import DecisionRetriesExhausted
from registration_service.use_cases.drain import drain_partition
from registration_service.worker.celery_app import app
from registration_service.worker.resources import resources

log = logging.getLogger(__name__)

RETRY = {
    "autoretry_for": (OperationalError, DecisionRetriesExhausted),
    "retry_backoff": 0.2,
    "retry_backoff_max": 5,
    "retry_jitter": True,
    "max_retries": 20,
}


@app.task(name=DRAIN_TASK, **RETRY)
def drain(partition: int) -> None:
    """Decide the partition's queued requests in batches; ring again if some are left, so the
    worker's other partitions get their turn in between."""
    res = resources()
    res.doorbells.answer(partition)  # a request stored from now on rings again
    drained = drain_partition(
        res.sessions,
        partition,
        batch_size=res.settings.decision_batch_size,
        max_batches=res.settings.drain_batches_per_doorbell,
    )
    if drained.more:
        res.doorbells.ring([partition])
    if drained.fallbacks:
        log.warning(
            "partition %d: %d of %d batches refused by the database, decided one at a time",
            partition,
            drained.fallbacks,
            drained.batches,
        )
    log.info("partition %d: decided %d in %d batches", partition, drained.decided, drained.batches)


@app.task(name=DECIDE_TASK, **RETRY)
def decide_request(request_id: str) -> None:
    """A message from an older web process names one request: drain its partition."""
    res = resources()
    with res.sessions() as session:
        partition = session.scalar(
            select(RegistrationRequestRow.decision_partition).where(
                RegistrationRequestRow.id == request_id
            )
        )
    if partition is not None:
        drain(partition)
