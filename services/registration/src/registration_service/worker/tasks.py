"""Decision tasks: thin. The use case decides and stages its events; the task owns the
transaction. The relay process publishes the outbox in batches (cheaper than a publish per task)."""

from __future__ import annotations

import logging

from sqlalchemy.exc import OperationalError

from registration_service.messaging import DECIDE_TASK
from registration_service.use_cases.decisions import DecisionRetriesExhausted
from registration_service.use_cases.requests import decide
from registration_service.worker.celery_app import app
from registration_service.worker.resources import resources

log = logging.getLogger(__name__)


@app.task(
    name=DECIDE_TASK,
    autoretry_for=(OperationalError, DecisionRetriesExhausted),
    retry_backoff=0.2,
    retry_backoff_max=5,
    retry_jitter=True,
    max_retries=20,
)
def decide_request(request_id: str) -> None:
    """Decide one request; a redelivered or repeated task finds it decided and does nothing."""
    res = resources()
    with res.sessions() as session, session.begin():
        decided = decide(session, request_id)
    if decided is None:
        return
    log.info("request %s %s %s", request_id, decided.status, decided.reason or "")
