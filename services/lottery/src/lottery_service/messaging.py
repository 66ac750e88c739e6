"""The lottery's Celery app and the message that starts a run. The web sends it after the run
is committed as ``queued``; the relay sends it again when it was lost (see ``stale_runs``)."""

from __future__ import annotations

from celery import Celery
from servicekit.celery_defaults import celery_config

from lottery_service.settings import LotterySettings

RUN_TASK = "lottery.run"
RUN_QUEUE = "lottery.solve"  # a Celery list: not the "lottery.runs" stream


def make_celery(settings: LotterySettings) -> Celery:
    app = Celery("lottery")
    app.conf.update(celery_config(settings.redis_url, settings.celery_visibility_timeout))
    app.conf.task_routes = {RUN_TASK: {"queue": RUN_QUEUE}}
    app.conf.broker_transport_options |= {"socket_timeout": 5, "socket_connect_timeout": 5}
    return app


def send_run(celery: Celery, run_id: int) -> None:
    celery.send_task(RUN_TASK, args=[run_id], queue=RUN_QUEUE)
