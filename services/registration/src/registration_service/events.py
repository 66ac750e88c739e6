"""The registration service's event contract: the streams it publishes and reads, each event type
with its version, and one schema per payload.

Producers build a payload with :meth:`EventSpec.event` (checked, then dumped); consumers read one
with :meth:`EventSpec.read` (a schema of only the fields this service uses, unknown fields
excluded, so a producer's additive change passes); see :mod:`servicekit.event_contracts`. The
profile and lottery services keep their own schemas of what they read of ours, and we of theirs:
services never import each other. Golden examples of every payload live under
``tests/contracts/``. No Flask here: the workers import this module.
"""

from __future__ import annotations

from servicekit.event_contracts import (
    EventSpec,
    PayloadSchema,
    required_bool,
    required_int,
    required_list,
    required_moment,
    required_object,
    required_text,
)

PRODUCER = "registration"

# --- streams ------------------------------------------------------------------------------------
CATALOG_STREAM = "registration.catalog"
OUTCOMES_STREAM = "registration.outcomes"
STUDENT_STREAMS = "registration.outcomes.student.<student_id>"  # one per student, for SSE
STUDENT_STREAM_PREFIX = "registration.outcomes.student."  # they expire (see StreamPublisher)
PROFILES_STREAM = "profile.profiles"  # the profile service's
LOTTERY_STREAM = "lottery.runs"  # the lottery service's


def student_stream(student_id: int) -> str:
    """The Redis Stream a student's outcomes are fanned out to, for their SSE connection."""
    return f"{STUDENT_STREAM_PREFIX}{student_id}"


# --- event types (the strings are the contract: never change one, publish a new version) -------
PROGRAM_CREATED = "registration.program.created.v1"
PROGRAM_UPDATED = "registration.program.updated.v1"
TIMESLOT_CREATED = "registration.timeslot.created.v1"
CLASS_CREATED = "registration.class.created.v1"
CLASS_UPDATED = "registration.class.updated.v1"
CONSTRAINTS_CHANGED = "registration.constraints.changed.v1"
OUTCOME_DECIDED = "registration.outcome.decided.v1"
WAITLIST_PROMOTED = "registration.waitlist.promoted.v1"
PROFILE_COMPLETED = "profile.profile.completed.v1"
PROFILE_REOPENED = "profile.profile.reopened.v1"
LOTTERY_RUN_COMMITTED = "lottery.run.committed.v1"
LOTTERY_RUN_REVERTED = "lottery.run.reverted.v1"


# --- payload schemas ----------------------------------------------------------------------------
class ProgramPayload(PayloadSchema):
    """A program as other services learn it (the profile service reads its id, name and
    registration opening; the lottery service its grades and priority settings)."""

    id = required_int()
    name = required_text()
    grade_min = required_int()
    grade_max = required_int()
    student_capacity = required_int(allow_none=True)
    use_priority = required_bool()
    priority_limit = required_int(allow_none=True)
    registration_opens_at = required_moment(allow_none=True)
    registration_closes_at = required_moment(allow_none=True)
    opening_window_seconds = required_int(allow_none=True)  # added in v1.1
    waitlist_limit_per_timeslot = required_int()  # added in v1.1


class TimeslotPayload(PayloadSchema):
    """A program's timeslot."""

    id = required_int()
    program_id = required_int()
    start = required_moment()
    end = required_moment()


class SectionPayload(PayloadSchema):
    """A section within its class's payload: its timeslots in time order (by start, then id),
    so the first is where the section starts."""

    id = required_int()
    capacity = required_int()
    timeslot_ids = required_list(required_int())


class ClassPayload(PayloadSchema):
    """A class with all its sections (created, or announced again)."""

    id = required_int()
    program_id = required_int()
    title = required_text()
    grade_min = required_int()
    grade_max = required_int()
    sections = required_list(SectionPayload)


class ConstraintPayload(PayloadSchema):
    """One schedule constraint: "if ``condition`` (null: always) then ``requirement``", each a
    JSON expression (see ``domain/constraints.py``), and the label a student reads."""

    id = required_int()
    label = required_text()
    condition = required_object(allow_none=True)
    requirement = required_object()


class ConstraintsChangedPayload(PayloadSchema):
    """A program's schedule constraints, all of them, after one was added or removed: a consumer
    replaces what it held (the lottery, so that its runs keep them)."""

    program_id = required_int()
    constraints = required_list(ConstraintPayload)


class OutcomeDecidedPayload(PayloadSchema):
    """A request's outcome, whichever path (a batch or one at a time) decided it."""

    id = required_text()
    program_id = required_int()
    student_id = required_int()
    action = required_text()
    section_id = required_int()
    from_section_id = required_int(allow_none=True)
    status = required_text()
    reason = required_text(allow_none=True)
    message = required_text(allow_none=True)
    verb = required_text(allow_none=True)
    decided_at = required_moment()
    # Who placed the request when not the student: an admin process, e.g. "lottery-run:17".
    origin = required_text(allow_none=True)


class WaitlistPromotedPayload(PayloadSchema):
    """A student moved from a section's waitlist to a seat, when a seat was freed."""

    student_id = required_int()
    section_id = required_int()
    program_id = required_int()
    verb = required_text()
    decided_at = required_moment()
    # Added in v1 (optional for consumers): the request (a drop or switch) that freed the seat,
    # null when an organiser made room; and the sentence a student's page shows.
    freed_by_request_id = required_text(allow_none=True)
    message = required_text()


class ProfileCompletedRead(PayloadSchema):
    """What this service reads of ``profile.profile.completed.v1``."""

    program_id = required_int()
    student_id = required_int()
    grade = required_int()


class ProfileReopenedRead(PayloadSchema):
    """What this service reads of ``profile.profile.reopened.v1``."""

    program_id = required_int()
    student_id = required_int()


class LotteryAssignmentRead(PayloadSchema):
    """One student placed in one section by a lottery run."""

    student_id = required_int()
    section_id = required_int()


class LotteryRunRead(PayloadSchema):
    """What this service reads of ``lottery.run.committed.v1`` and ``lottery.run.reverted.v1``:
    one part of a run's assignments (enrollments to make, or for a revert to undo), all starting
    at ``starts_at``."""

    run_id = required_int()
    program_id = required_int()
    starts_at = required_moment()
    assignments = required_list(LotteryAssignmentRead)


# --- the contract -------------------------------------------------------------------------------


program_created = EventSpec(PROGRAM_CREATED, (CATALOG_STREAM,), ProgramPayload())
program_updated = EventSpec(PROGRAM_UPDATED, (CATALOG_STREAM,), ProgramPayload())
timeslot_created = EventSpec(TIMESLOT_CREATED, (CATALOG_STREAM,), TimeslotPayload())
class_created = EventSpec(CLASS_CREATED, (CATALOG_STREAM,), ClassPayload())
class_updated = EventSpec(CLASS_UPDATED, (CATALOG_STREAM,), ClassPayload())
constraints_changed = EventSpec(CONSTRAINTS_CHANGED, (CATALOG_STREAM,), ConstraintsChangedPayload())
outcome_decided = EventSpec(
    OUTCOME_DECIDED, (OUTCOMES_STREAM, STUDENT_STREAMS), OutcomeDecidedPayload()
)
waitlist_promoted = EventSpec(
    WAITLIST_PROMOTED, (OUTCOMES_STREAM, STUDENT_STREAMS), WaitlistPromotedPayload()
)
profile_completed = EventSpec(PROFILE_COMPLETED, (PROFILES_STREAM,), ProfileCompletedRead())
profile_reopened = EventSpec(PROFILE_REOPENED, (PROFILES_STREAM,), ProfileReopenedRead())
lottery_run_committed = EventSpec(LOTTERY_RUN_COMMITTED, (LOTTERY_STREAM,), LotteryRunRead())
lottery_run_reverted = EventSpec(LOTTERY_RUN_REVERTED, (LOTTERY_STREAM,), LotteryRunRead())

PUBLISHES: tuple[EventSpec, ...] = (
    program_created,
    program_updated,
    timeslot_created,
    class_created,
    class_updated,
    constraints_changed,
    outcome_decided,
    waitlist_promoted,
)
CONSUMES: tuple[EventSpec, ...] = (
    profile_completed,
    profile_reopened,
    lottery_run_committed,
    lottery_run_reverted,
)
