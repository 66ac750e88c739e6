"""Outcomes of registration requests as they are stored: one shape whichever path (a batch or
one request at a time) decided them. Their events' payload is
:class:`registration_service.events.OutcomeDecidedPayload`."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from servicekit.events import Event
from servicekit.logging_setup import NO_CORRELATION
from servicekit.outbox import add_to_outbox
from sqlalchemy.orm import Session

from registration_service import events
from registration_service.adapters.models import outbox
from registration_service.domain.model import ENROLLED, RequestStatus
from registration_service.domain.rules import Decision

decisions_log = logging.getLogger("registration_service.decisions")


def outcome_fields(decision: Decision) -> dict[str, Any]:
    """What a decision writes on its request, whichever path decided it."""
    return {
        "status": RequestStatus.of(decision.accepted),
        "reason": decision.reason.value if decision.reason else None,
        "message": decision.message,
        "verb": decision.verb,
    }


def stage_promotions(
    session: Session,
    program_id: int,
    section_id: int,
    student_ids: Sequence[int],
    when: datetime,
    *,
    freed_by: _Request | None = None,
) -> None:
    """Tell each student moved from the section's waitlist to a seat, on their own stream too,
    in the transaction that moved them (see :func:`promotion_event`)."""
    for student_id in student_ids:
        promoted = promotion_event(student_id, program_id, section_id, when, freed_by)
        streams = (events.student_stream(student_id), events.OUTCOMES_STREAM)
        add_to_outbox(session, outbox, streams, promoted)


def promotion_event(
    student_id: int,
    program_id: int,
    section_id: int,
    when: datetime,
    freed_by: _Request | None,
) -> Event:
    """``registration.waitlist.promoted.v1`` for one student. ``freed_by`` is the request (a
    drop or a switch) that freed the seat: its id is in the payload and its ``correlation_id``
    on the event, so the support desk can follow a promotion back to the click that caused it.
    None: an organiser raised the capacity or reopened the section (the event then carries
    that call's id, from the context)."""
    if freed_by is None:
        message = "A seat opened in this section, so you moved from its waitlist to Enrolled."
        cid = None  # the organiser's call, from the context
    else:
        message = (
            f"A seat freed by request {freed_by.id} went to you: "
            "you moved from the waitlist to Enrolled."
        )
        cid = freed_by.correlation_id or NO_CORRELATION
    return events.waitlist_promoted.event(
        {
            "student_id": student_id,
            "section_id": section_id,
            "program_id": program_id,
            "verb": ENROLLED,
            "decided_at": when,
            "freed_by_request_id": freed_by.id if freed_by is not None else None,
            "message": message,
        },
        correlation_id=cid,
    )


class _Request(Protocol):
    id: str
    program_id: int
    student_id: int
    section_id: int
    origin: str | None
    correlation_id: str | None


@dataclass(frozen=True)
class DecidedRequest:
    """A request's outcome before it is written: the batch path's row for ``executemany``."""

    id: str
    program_id: int
    student_id: int
    action: str
    section_id: int
    from_section_id: int | None
    status: str
    reason: str | None
    message: str | None
    verb: str | None
    decided_at: datetime | None
    origin: str | None
    correlation_id: str | None = None  # the request's (see RegistrationRequestRow)

    @classmethod
    def of(
        cls, request: _Request, action: str, decision: Decision, when: datetime
    ) -> DecidedRequest:
        return cls(
            id=request.id,
            program_id=request.program_id,
            student_id=request.student_id,
            action=action,
            section_id=request.section_id,
            from_section_id=None,
            decided_at=when,
            origin=request.origin,
            correlation_id=request.correlation_id,
            **outcome_fields(decision),
        )

    def bind(self) -> dict[str, Any]:
        return {
            "b_id": self.id,
            "b_status": self.status,
            "b_reason": self.reason,
            "b_message": self.message,
            "b_verb": self.verb,
            "b_when": self.decided_at,
        }


def log_decided(
    request_id: str, correlation_id: str | None, status: str, reason: str | None
) -> None:
    """The worker's line for one decision, once it is committed: ids, status and reason only
    (never personal data); ``correlation_id`` is the submitting request's X-Request-ID."""
    decisions_log.info(
        "request %s %s%s",
        request_id,
        status,
        f" ({reason})" if reason else "",
        extra={
            "request_id": request_id,
            "correlation_id": correlation_id or NO_CORRELATION,
            "status": status,
            "reason": reason,
        },
    )
