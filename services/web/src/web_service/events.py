"""The events the web reads, and none it publishes: registration's outcomes, so that what a web
process keeps of each student's sections (:mod:`web_service.holdings`) is dropped the moment
they change. The web's own schema of only the fields it reads (``unknown`` excluded, so a
producer's additive change passes); see tests/contracts/README.md. No Flask here."""

from __future__ import annotations

from servicekit.event_contracts import EventSpec, PayloadSchema, required_int

PRODUCER = "web"

OUTCOMES_STREAM = "registration.outcomes"  # the registration service's
OUTCOME_DECIDED = "registration.outcome.decided.v1"
WAITLIST_PROMOTED = "registration.waitlist.promoted.v1"


class StudentChangedRead(PayloadSchema):
    """Whose sections in which program a decision or a promotion may have changed."""

    program_id = required_int()
    student_id = required_int()


outcome_decided = EventSpec(OUTCOME_DECIDED, (OUTCOMES_STREAM,), StudentChangedRead())
waitlist_promoted = EventSpec(WAITLIST_PROMOTED, (OUTCOMES_STREAM,), StudentChangedRead())

PUBLISHES: tuple[EventSpec, ...] = ()
CONSUMES: tuple[EventSpec, ...] = (outcome_decided, waitlist_promoted)
