"""The lottery worker's Celery app: ``celery -A lottery_service.worker.celery_app worker
-Q lottery.runs --pool solo``. One run at a time per process: a solve takes a core."""

from __future__ import annotations

from lottery_service.messaging import make_celery
from lottery_service.settings import get_settings

app = make_celery(get_settings())
app.conf.imports = ["lottery_service.worker.tasks"]
