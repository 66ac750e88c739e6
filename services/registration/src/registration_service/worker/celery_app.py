"""The worker's Celery app: ``celery -A registration_service.worker.celery_app worker -Q ...``.

One process per set of partition queues, ``--pool solo`` and prefetch 1: a section's requests
are decided one at a time, in arrival order.
"""

from __future__ import annotations

from registration_service.messaging import make_celery
from registration_service.settings import get_settings

app = make_celery(get_settings())
app.conf.imports = ["registration_service.worker.tasks"]
