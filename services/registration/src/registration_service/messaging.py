"""Sending decision tasks: by name, to the partition queue of the request's section.

Both the web process and the sweeper send through here; neither imports the worker's modules.
"""

from __future__ import annotations

import logging

from celery import Celery
from servicekit.celery_defaults import celery_config

from registration_service.settings import RegistrationSettings

log = logging.getLogger(__name__)

DECIDE_TASK = "registration.decide_request"


def make_celery(settings: RegistrationSettings) -> Celery:
    app = Celery("registration")
    app.conf.update(celery_config(settings.redis_url, settings.celery_visibility_timeout))
    app.conf.broker_transport_options |= {"socket_timeout": 5, "socket_connect_timeout": 5}
    return app


def decision_queue(section_id: int, partitions: int) -> str:
    """All decisions for one section go through one queue, so they run one after another."""
    return f"registration.decide.{section_id % partitions}"


def send_decision(
    celery: Celery, settings: RegistrationSettings, request_id: str, section_id: int
) -> bool:
    """Enqueue a decision; False (logged) when the broker is unreachable — the request is
    already persisted, and the sweeper sends it again."""
    try:
        celery.send_task(
            DECIDE_TASK,
            args=[request_id],
            queue=decision_queue(section_id, settings.decision_partitions),
            retry=False,
        )
    except Exception:  # any broker failure: the sweeper owns the retry
        log.warning(
            "could not enqueue request %s; the sweeper will resend it", request_id, exc_info=True
        )
        return False
    return True
