"""The rush path: accept a request (persisted, then queued), read its outcome, stream outcomes."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from flask import Response, current_app
from flask.views import MethodView
from servicekit.errors import ApiError
from servicekit.flask_api import Access, ServiceBlueprint
from servicekit.flask_auth import current_principal, require_self_or_admin
from servicekit.flask_db import transaction

from registration_service.api import schemas
from registration_service.domain.model import WAITLISTED, RequestStatus
from registration_service.intake import RequestIntake, StorageUnavailable
from registration_service.outcome_fanout import OutcomeFanout
from registration_service.use_cases import queries, requests

log = logging.getLogger(__name__)

blp = ServiceBlueprint("requests", __name__, url_prefix="/v1", description="Registration requests.")


@blp.route("/programs/<id:program_id>/registration-requests")
class RegistrationRequests(MethodView):
    @blp.access(Access.SELF_IN_BODY)
    @blp.arguments(schemas.IdempotencyHeaderSchema, location="headers")
    @blp.arguments(schemas.RequestInSchema)
    @blp.response(202, schemas.RequestAcceptedSchema)
    @blp.alt_response(503, response="SERVICE_UNAVAILABLE")
    def post(self, headers: dict, body: dict, program_id: int) -> dict:
        """Accept a request: 202 once it is stored; its decision follows asynchronously."""
        # Requests arriving together are stored together (one commit). A 503 means this one was
        # not stored, and a retry with the same Idempotency-Key is safe.
        require_self_or_admin(body["student_id"])
        new = requests.NewRequest(
            program_id=program_id, idempotency_key=headers["idempotency_key"], **body
        )
        intake: RequestIntake = current_app.extensions["registration.intake"]
        try:
            submitted = intake.submit(new)
        except requests.IdempotencyKeyReused as exc:
            raise ApiError(
                422,
                "idempotency_key_reused",
                "This Idempotency-Key was used for a different request; use a new key.",
                {"Idempotency-Key": ["Already used for a different request."]},
            ) from exc
        except StorageUnavailable as exc:
            raise ApiError(
                503,
                "storage_unavailable",
                "The request was not stored; retry it with the same Idempotency-Key.",
            ) from exc
        return {"id": submitted.id, "status": submitted.status}


@blp.route("/registration-requests/<string(length=32):request_id>")
class RegistrationRequest(MethodView):
    @blp.access(Access.ANY_TOKEN)
    @blp.response(200, schemas.RequestSchema)
    def get(self, request_id: str) -> object:
        """A request and, once decided, its outcome."""
        with transaction() as session:
            row = requests.get_request(session, request_id)
            current_principal().ensure_can_act_for(row.student_id)
            waiting = row.verb == WAITLISTED and row.status == RequestStatus.ACCEPTED
            position = waiting and queries.waitlist_position(
                session, row.section_id, row.student_id
            )
            row.position = position or None  # read by RequestSchema; not a column
            return row


@blp.route("/students/<id:student_id>/outcomes")
class StudentOutcomes(MethodView):
    @blp.access(Access.SELF_OR_ADMIN)
    @blp.arguments(schemas.OutcomeStreamHeaderSchema, location="headers")
    @blp.arguments(schemas.OutcomeStreamQuerySchema, location="query")
    @blp.response(
        200,
        content_type="text/event-stream",
        description="Server-Sent Events: one `outcome` event per decided request.",
    )
    def get(self, headers: dict, query: dict, student_id: int) -> Response:
        """Outcomes of the student's requests as they are decided; resumes from Last-Event-ID.

        Each event's `id` is its id in the student's stream and its data carries
        `correlation_id`. A comment line comes at least every OUTCOME_HEARTBEAT_SECONDS (15 s);
        a page that falls more than a thousand events behind is closed and resumes by
        Last-Event-ID."""
        start = headers["last_event_id"] or query["last_event_id"] or "0"
        fanout: OutcomeFanout = current_app.extensions["registration.fanout"]
        heartbeat = current_app.extensions["registration.settings"].outcome_heartbeat_seconds
        return Response(
            _events(fanout, student_id, start, heartbeat),
            mimetype="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )


def _events(fanout: OutcomeFanout, student_id: int, start: str, heartbeat: float) -> Iterator[str]:
    """The page's stream: written by this request's greenlet, fed by the process's fan-out;
    unsubscribed however it ends (the client went away, or fell too far behind). It subscribes
    when the server starts writing it, not in the view: a response never iterated (a HEAD
    request) would otherwise leave a page subscribed for good."""
    page = fanout.subscribe(student_id, start)
    try:
        yield "retry: 2000\n\n"
        for chunk in page.chunks(heartbeat):
            yield ": keep-alive\n\n" if chunk is None else chunk
        log.info("outcome stream of student %s closed: too far behind", page.student_id)
    finally:
        fanout.unsubscribe(page)
