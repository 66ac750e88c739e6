"""The rush path: accept a request (persisted, then queued), read its outcome, stream outcomes."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import redis
from flask import Response, current_app
from flask.views import MethodView
from servicekit.errors import ApiError
from servicekit.events import ENVELOPE_FIELD
from servicekit.flask_api import Access, ServiceBlueprint
from servicekit.flask_auth import current_principal, require_self_or_admin
from servicekit.flask_db import transaction

from registration_service.api import schemas
from registration_service.domain.model import WAITLISTED, RequestStatus
from registration_service.events import student_stream
from registration_service.intake import RequestIntake, StorageUnavailable
from registration_service.use_cases import queries, requests

log = logging.getLogger(__name__)

blp = ServiceBlueprint("requests", __name__, url_prefix="/v1", description="Registration requests.")

HEARTBEAT_MS = 15_000


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
        """Outcomes of the student's requests as they are decided; resumes from Last-Event-ID."""
        start = headers["last_event_id"] or query["last_event_id"] or "0"
        client = current_app.extensions["registration.redis"]
        stream = student_stream(student_id)
        return Response(
            _events(client, stream, start),
            mimetype="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )


def _events(client, stream: str, last_id: str) -> Iterator[str]:  # noqa: ANN001 - redis client
    yield "retry: 2000\n\n"
    while True:
        try:
            found = client.xread({stream: last_id}, count=100, block=HEARTBEAT_MS)
        except redis.RedisError:  # Redis restarting, or this worker shutting down
            log.warning("outcome stream %s ended early; the client resumes from its id", stream)
            return
        if not found:
            yield ": keep-alive\n\n"
            continue
        for entry_id, fields in found[0][1]:
            last_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
            raw = fields.get(ENVELOPE_FIELD.encode()) or fields.get(ENVELOPE_FIELD)
            envelope = json.loads(raw)
            data = json.dumps(
                envelope["payload"]
                | {
                    "event_type": envelope["event_type"],
                    "correlation_id": envelope.get("correlation_id"),
                }
            )
            yield f"id: {last_id}\nevent: outcome\ndata: {data}\n\n"
