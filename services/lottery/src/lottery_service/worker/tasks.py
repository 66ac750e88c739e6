"""The lottery's only task: solve one run. Thin: :func:`solve_run` does the work."""

from __future__ import annotations

from sqlalchemy.exc import OperationalError

from lottery_service.messaging import RUN_TASK
from lottery_service.use_cases.solve import solve_run
from lottery_service.worker.celery_app import app
from lottery_service.worker.resources import resources


@app.task(
    name=RUN_TASK,
    autoretry_for=(OperationalError,),  # the database away for a moment: try again
    retry_backoff=1,
    retry_backoff_max=30,
    max_retries=10,
)
def run_lottery(run_id: int) -> None:
    solve_run(resources().sessions, run_id)
