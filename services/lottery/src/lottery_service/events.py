"""The lottery service's event contract: the streams it publishes and reads, each event type with
its version, and one schema per payload.

It reads the registration service's catalog (programs, timeslots, classes with their sections,
schedule constraints)
and outcomes (to learn what became of a committed run's enrollments), and the profile service's
completions (students' grades). It publishes a run's commit and revert, which the registration
service turns into enroll and drop requests. Consumers' schemas hold only the fields read;
services never import each other. Golden examples live under ``tests/contracts/``. No Flask.
"""

from __future__ import annotations

from marshmallow import fields
from servicekit.event_contracts import (
    EventSpec,
    PayloadSchema,
    required_int,
    required_list,
    required_moment,
    required_object,
    required_text,
)

PRODUCER = "lottery"

# --- streams ------------------------------------------------------------------------------------
RUNS_STREAM = "lottery.runs"
CATALOG_STREAM = "registration.catalog"  # the registration service's
OUTCOMES_STREAM = "registration.outcomes"  # the registration service's
PROFILES_STREAM = "profile.profiles"  # the profile service's

# --- event types (the strings are the contract: never change one, publish a new version) -------
RUN_COMMITTED = "lottery.run.committed.v1"
RUN_REVERTED = "lottery.run.reverted.v1"
PROGRAM_CREATED = "registration.program.created.v1"
PROGRAM_UPDATED = "registration.program.updated.v1"
TIMESLOT_CREATED = "registration.timeslot.created.v1"
CLASS_CREATED = "registration.class.created.v1"
CLASS_UPDATED = "registration.class.updated.v1"
CONSTRAINTS_CHANGED = "registration.constraints.changed.v1"
OUTCOME_DECIDED = "registration.outcome.decided.v1"
PROFILE_COMPLETED = "profile.profile.completed.v1"
PROFILE_REOPENED = "profile.profile.reopened.v1"

# A run's assignments travel in parts, so no stream entry grows with the program.
ASSIGNMENTS_PER_PART = 1000


# --- payload schemas: what we publish ------------------------------------------------------------
class AssignmentPayload(PayloadSchema):
    student_id = required_int()
    section_id = required_int()


class RunAssignmentsPayload(PayloadSchema):
    """One part of a run's assignments: to enroll (commit) or to drop (revert). Every
    registration of the run starts at ``starts_at``; a revert drops only those."""

    run_id = required_int()
    program_id = required_int()
    starts_at = required_moment()
    part = required_int()
    parts = required_int()
    assignments = required_list(AssignmentPayload)


# --- payload schemas: what we read of others -----------------------------------------------------
class ProgramRead(PayloadSchema):
    id = required_int()
    name = required_text()
    grade_min = required_int()
    grade_max = required_int()
    student_capacity = required_int(allow_none=True)
    priority_limit = fields.Integer(strict=True, allow_none=True, load_default=None)


class TimeslotRead(PayloadSchema):
    id = required_int()
    program_id = required_int()
    start = required_moment()
    end = required_moment()


class SectionRead(PayloadSchema):
    id = required_int()
    capacity = required_int()
    timeslot_ids = required_list(required_int())  # in time order


class ClassRead(PayloadSchema):
    id = required_int()
    program_id = required_int()
    title = required_text()
    grade_min = required_int()
    grade_max = required_int()
    sections = required_list(SectionRead)


class ConstraintRead(PayloadSchema):
    """A schedule constraint as a JSON expression (``domain/schedule_rules.py`` reads it)."""

    id = required_int()
    label = required_text()
    condition = required_object(allow_none=True)
    requirement = required_object()


class ConstraintsChangedRead(PayloadSchema):
    """A program's constraints, all of them: what we held is replaced."""

    program_id = required_int()
    constraints = required_list(ConstraintRead)


class OutcomeRead(PayloadSchema):
    """An outcome; only those whose ``origin`` is one of our runs concern us."""

    student_id = required_int()
    section_id = required_int()
    status = required_text()
    reason = required_text(allow_none=True)
    origin = fields.String(allow_none=True, load_default=None)
    # A priority program's enrolls are accepted as ``Priority/N`` (see priority_registrations).
    action = fields.String(allow_none=True, load_default=None)
    verb = fields.String(allow_none=True, load_default=None)


class ProfileCompletedRead(PayloadSchema):
    program_id = required_int()
    student_id = required_int()
    grade = required_int()


class ProfileReopenedRead(PayloadSchema):
    program_id = required_int()
    student_id = required_int()


# --- the contract -------------------------------------------------------------------------------
run_committed = EventSpec(RUN_COMMITTED, (RUNS_STREAM,), RunAssignmentsPayload())
run_reverted = EventSpec(RUN_REVERTED, (RUNS_STREAM,), RunAssignmentsPayload())
program_created = EventSpec(PROGRAM_CREATED, (CATALOG_STREAM,), ProgramRead())
program_updated = EventSpec(PROGRAM_UPDATED, (CATALOG_STREAM,), ProgramRead())
timeslot_created = EventSpec(TIMESLOT_CREATED, (CATALOG_STREAM,), TimeslotRead())
class_created = EventSpec(CLASS_CREATED, (CATALOG_STREAM,), ClassRead())
class_updated = EventSpec(CLASS_UPDATED, (CATALOG_STREAM,), ClassRead())
constraints_changed = EventSpec(CONSTRAINTS_CHANGED, (CATALOG_STREAM,), ConstraintsChangedRead())
outcome_decided = EventSpec(OUTCOME_DECIDED, (OUTCOMES_STREAM,), OutcomeRead())
profile_completed = EventSpec(PROFILE_COMPLETED, (PROFILES_STREAM,), ProfileCompletedRead())
profile_reopened = EventSpec(PROFILE_REOPENED, (PROFILES_STREAM,), ProfileReopenedRead())

PUBLISHES: tuple[EventSpec, ...] = (run_committed, run_reverted)
CONSUMES: tuple[EventSpec, ...] = (
    program_created,
    program_updated,
    timeslot_created,
    class_created,
    class_updated,
    constraints_changed,
    outcome_decided,
    profile_completed,
    profile_reopened,
)


def run_origin(run_id: int) -> str:
    """The ``origin`` registration gives the requests of a run's commit."""
    return f"lottery-run:{run_id}"


def revert_origin(run_id: int) -> str:
    """The ``origin`` of the drop requests of a run's revert."""
    return f"lottery-revert:{run_id}"
