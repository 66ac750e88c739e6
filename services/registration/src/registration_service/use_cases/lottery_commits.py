"""A lottery run's commit (and its revert), applied as registration requests.

The lottery service decides who should get which seat; this service still decides whether they
do. Each assignment of a ``lottery.run.committed.v1`` part becomes a queued enroll request, each
of a ``lottery.run.reverted.v1`` part a queued drop, and the partition drainers decide them with
every rule a student's request meets, except the registration window: the requests carry their
``origin`` (``lottery-run:<run>``, ``lottery-revert:<run>``), which marks them as placed by an
admin process. Their ``starts_at`` gives every seat of a run one start date, and lets a revert
expire only the seats the run gave (never one the student took themselves).

Each event is applied once (``processed_events``) and its requests stored with one insert; their
idempotency keys (``lottery-run-<run>-section-<section>``, ``lottery-revert-<run>-section-
<section>``, per student) make a part published again harmless, even under a new event id. So a
run committed again after its revert needs a new run id.

An assignment whose section is unknown or belongs to another program (removed since the run, or
a part sent to the wrong program) is not stored: it would seat the student under the wrong
program. It is answered at once instead, with a warning logged: a ``section_removed`` rejection
on the student's stream and ``registration.outcomes``, as every outcome of a run is (the live
pages' fan-out expects the student's stream first), so the lottery counts it decided, and a run,
or its second wave, is never left waiting for it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from servicekit.background import read_unapplied
from servicekit.events import Event
from servicekit.logging_setup import NO_CORRELATION, sane_request_id
from servicekit.outbox import add_to_outbox
from sqlalchemy import select
from sqlalchemy.orm import Session

from registration_service import events
from registration_service.adapters.models import ProcessedEventRow, SectionRow, outbox
from registration_service.domain.model import Action
from registration_service.domain.reasons import Reason
from registration_service.domain.rules import Decision
from registration_service.use_cases.outcomes import outcome_fields
from registration_service.use_cases.requests import (
    IdempotencyKeyReused,
    NewRequest,
    submit_many,
)

log = logging.getLogger(__name__)

_READERS = {
    spec.event_type: spec for spec in (events.lottery_run_committed, events.lottery_run_reverted)
}


def handle_lottery_event(session: Session, event: Event, *, partitions: int) -> set[int] | None:
    """Store one lottery event's assignments as queued requests; the decision partitions to
    ring once the transaction commits, or None for other events and duplicates. A payload
    without the fields we read raises (ValidationError): the entry stays pending."""
    read = read_unapplied(session, _READERS, ProcessedEventRow, event)
    if read is None:
        return None
    spec, payload = read
    committed = spec is events.lottery_run_committed
    # The requests it places carry the lottery event's id (that of the web request that ran
    # the lottery), or none.
    cid = sane_request_id(event.correlation_id)
    news = lottery_requests(session, payload, committed=committed, correlation_id=cid)
    if not news:
        return set()
    rung: set[int] = set()
    for result in submit_many(session, news, partitions=partitions):
        if isinstance(result, IdempotencyKeyReused):  # not stored: the key is another's
            log.warning("%s: key %s already names another request", event.event_type, result)
        elif result.queued:
            rung.add(result.partition)
    return rung


def lottery_requests(
    session: Session,
    payload: Mapping[str, Any],
    *,
    committed: bool,
    correlation_id: str | None = None,
) -> list[NewRequest]:
    """One request per assignment whose section is in the run's program, in the order given."""
    run_id, program_id = payload["run_id"], payload["program_id"]
    kind = "run" if committed else "revert"
    wanted = dict.fromkeys((a["student_id"], a["section_id"]) for a in payload["assignments"])
    known = set(
        session.scalars(
            select(SectionRow.id).where(
                SectionRow.program_id == program_id,
                SectionRow.id.in_(sorted({section for _, section in wanted})),
            )
        )
    )
    skipped = [pair for pair in wanted if pair[1] not in known]
    if skipped:
        log.warning(
            "lottery %s %d: answered %d assignments (student, section) whose section is not in"
            " program %d as section_removed: %s",
            kind,
            run_id,
            len(skipped),
            program_id,
            skipped[:20],
        )
        _reject_unknown(session, payload, skipped, committed=committed, cid=correlation_id)
    return [
        NewRequest(
            program_id=program_id,
            student_id=student_id,
            action=Action.ENROLL if committed else Action.DROP,
            section_id=section_id,
            idempotency_key=f"lottery-{kind}-{run_id}-section-{section_id}",
            origin=f"lottery-{kind}:{run_id}",
            starts_at=payload["starts_at"],
            correlation_id=correlation_id,
        )
        for student_id, section_id in wanted
        if section_id in known
    ]


def _reject_unknown(
    session: Session,
    payload: Mapping[str, Any],
    skipped: list[tuple[int, int]],
    *,
    committed: bool,
    cid: str | None,
) -> None:
    """A ``section_removed`` outcome for each assignment not stored, on the student's stream and
    the outcomes stream.
    Its id is the request's idempotency key with the student: the same each time the part is
    published again (the lottery records an outcome only while it is pending)."""
    kind = "run" if committed else "revert"
    run_id, program_id = payload["run_id"], payload["program_id"]
    fields = outcome_fields(Decision.reject(Reason.SECTION_REMOVED))
    now = datetime.now(UTC)
    for student_id, section_id in skipped:
        outcome = {
            "id": f"lottery-{kind}-{run_id}-section-{section_id}-student-{student_id}",
            "program_id": program_id,
            "student_id": student_id,
            "action": Action.ENROLL if committed else Action.DROP,
            "section_id": section_id,
            "from_section_id": None,
            "decided_at": now,
            "origin": f"lottery-{kind}:{run_id}",
            **fields,
        }
        event = events.outcome_decided.event(outcome, correlation_id=cid or NO_CORRELATION)
        streams = (events.student_stream(student_id), events.OUTCOMES_STREAM)
        add_to_outbox(session, outbox, streams, event)
