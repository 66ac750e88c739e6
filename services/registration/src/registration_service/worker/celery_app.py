"""The worker's Celery app: ``celery -A registration_service.worker.celery_app worker -Q ...``.

One process per set of partition queues, ``--pool solo`` and prefetch 1: one doorbell at a time,
each draining its partition's requests in batches, in arrival order.
"""

from __future__ import annotations

from typing import Any

from celery.signals import worker_ready

from registration_service.heartbeat import start_beating
from registration_service.messaging import make_celery
from registration_service.settings import get_settings
from registration_service.worker.resources import resources

app = make_celery(get_settings())
app.conf.imports = ["registration_service.worker.tasks"]


@worker_ready.connect
def _connect_before_the_first_doorbell(sender: Any = None, **_: Any) -> None:
    """Open the database and Redis connections now, so the first doorbell of a rush finds them
    ready (and a worker that cannot reach its database says so at start)."""
    res = resources()
    with res.engine.connect():
        pass
    res.redis.ping()
    # Only now: /readyz counts this worker once it can take a doorbell.
    start_beating(res.redis, getattr(sender, "hostname", None) or "decide@unknown")
