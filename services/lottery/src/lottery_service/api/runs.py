"""Lottery runs: queue one, watch it, read its assignments, commit or revert it (admin)."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView
from servicekit.flask_api import Access, ServiceBlueprint
from servicekit.flask_auth import current_principal
from servicekit.flask_db import transaction

from lottery_service.adapters.models import LotteryRunRow
from lottery_service.api import schemas
from lottery_service.messaging import send_run
from lottery_service.settings import LotterySettings
from lottery_service.use_cases import commits, runs

blp = ServiceBlueprint("runs", __name__, url_prefix="/v1", description="Lottery runs.")

CELERY = "lottery.celery"
SETTINGS = "lottery.settings"
# Student ids: what an admin reviews, not what a student's token may read.
ADMIN_ONLY_STATS = ("least_served",)


def _run_body(run: LotteryRunRow) -> LotteryRunRow | dict[str, Any]:
    if current_principal().is_admin or not run.stats:
        return run
    stats = {k: v for k, v in run.stats.items() if k not in ADMIN_ONLY_STATS}
    return {**{c: getattr(run, c) for c in schemas.RunSchema().fields}, "stats": stats}


@blp.route("/programs/<id:program_id>/lottery-runs")
class Runs(MethodView):
    @blp.access(Access.ADMIN)
    @blp.response(200, schemas.RunListSchema)
    def get(self, program_id: int) -> dict[str, Any]:
        """The program's runs, oldest first (admin)."""
        with transaction() as session:
            return {"runs": runs.list_runs(session, program_id)}

    @blp.access(Access.ADMIN)
    @blp.arguments(schemas.RunInSchema)
    @blp.response(202, schemas.RunStartedSchema)
    def post(self, body: dict[str, Any], program_id: int) -> LotteryRunRow:
        """Queue a lottery run (admin); poll ``GET /v1/lottery-runs/{id}`` for its outcome.

        A null seed is drawn now and recorded, so the run can be repeated exactly.
        """
        settings: LotterySettings = current_app.extensions[SETTINGS]
        limit = body["time_limit_seconds"] or settings.lottery_time_limit_seconds
        with transaction() as session:
            run = runs.create_run(session, program_id, body["seed"], limit)
        # Stored first: if this message is lost, the relay sends it again.
        send_run(current_app.extensions[CELERY], run.id)
        return run


@blp.route("/lottery-runs/<id:run_id>")
class Run(MethodView):
    @blp.access(Access.ANY_TOKEN)
    @blp.response(200, schemas.RunSchema)
    def get(self, run_id: int) -> object:
        """A run's status and, once done, its stats (the least-served list to admins only)."""
        with transaction() as session:
            return _run_body(runs.get_run(session, run_id))


@blp.route("/lottery-runs/<id:run_id>/assignments")
class Assignments(MethodView):
    @blp.access(Access.ADMIN)
    @blp.response(200, schemas.AssignmentListSchema)
    @blp.alt_response(409, response="CONFLICT")
    def get(self, run_id: int) -> dict[str, Any]:
        """The sections the run gave each student, once it is done (admin); after a commit,
        with what registration decided for each."""
        with transaction() as session:
            return {"assignments": runs.run_assignments(session, run_id)}


@blp.route("/lottery-runs/<id:run_id>/commit")
class Commit(MethodView):
    @blp.access(Access.ADMIN)
    @blp.response(202, schemas.RunStartedSchema)
    @blp.alt_response(409, response="CONFLICT")
    def post(self, run_id: int) -> LotteryRunRow:
        """Enroll students as the run assigned them, through registration's rules (admin).

        The run is ``committing`` until registration has decided every enrollment, then
        ``committed``; its stats then say how many were accepted and why any was rejected.
        Once per run, and one committed run per program: otherwise a 409.
        """
        with transaction() as session:
            return commits.commit_run(session, run_id)


@blp.route("/lottery-runs/<id:run_id>/revert")
class Revert(MethodView):
    @blp.access(Access.ADMIN)
    @blp.response(202, schemas.RunStartedSchema)
    @blp.alt_response(409, response="CONFLICT")
    def post(self, run_id: int) -> LotteryRunRow:
        """Drop the enrollments a committed run made (admin); registrations students made
        themselves stay. The run is ``reverting``, then ``reverted``."""
        with transaction() as session:
            return commits.revert_run(session, run_id)
