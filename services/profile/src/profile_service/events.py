"""The profile service's event contract: the streams it publishes and reads, each event type with
its version, and one schema per payload.

Producers build a payload with :meth:`EventSpec.event` (checked, then dumped); consumers read one
with :meth:`EventSpec.read` (a schema of only the fields this service uses, unknown fields
excluded, so a producer's additive change passes); see :mod:`servicekit.event_contracts`. The
registration service keeps its own schema of what it reads of ours, and we of theirs: services never
import each other. Golden examples of every payload live under ``tests/contracts/``. No Flask
here: the relay import this module.
"""

from __future__ import annotations

from datetime import UTC

from marshmallow import fields
from servicekit.event_contracts import (
    EventSpec,
    PayloadSchema,
    required_int,
    required_text,
)

PRODUCER = "profile"

# --- streams ------------------------------------------------------------------------------------
PROFILES_STREAM = "profile.profiles"
CATALOG_STREAM = "registration.catalog"  # the registration service's

# --- event types (the strings are the contract: never change one, publish a new version) -------
PROFILE_COMPLETED = "profile.profile.completed.v1"
PROFILE_REOPENED = "profile.profile.reopened.v1"
PROGRAM_CREATED = "registration.program.created.v1"
PROGRAM_UPDATED = "registration.program.updated.v1"


# --- payload schemas ----------------------------------------------------------------------------
class ProfileCompletedPayload(PayloadSchema):
    """A complete profile: ids and the grade, never personal data."""

    profile_id = required_int()
    program_id = required_int()
    student_id = required_int()
    grade = required_int()
    graduation_year = required_int()
    school_year = required_int()


class ProfileReopenedPayload(PayloadSchema):
    """A complete profile saved incomplete: the student is no longer cleared to register."""

    program_id = required_int()
    student_id = required_int()


class ProgramRead(PayloadSchema):
    """What this service reads of the registration service's program events."""

    id = required_int()
    name = required_text()
    registration_opens_at = fields.AwareDateTime(
        allow_none=True, load_default=None, default_timezone=UTC
    )


# --- the contract -------------------------------------------------------------------------------


profile_completed = EventSpec(PROFILE_COMPLETED, (PROFILES_STREAM,), ProfileCompletedPayload())
profile_reopened = EventSpec(PROFILE_REOPENED, (PROFILES_STREAM,), ProfileReopenedPayload())
program_created = EventSpec(PROGRAM_CREATED, (CATALOG_STREAM,), ProgramRead())
program_updated = EventSpec(PROGRAM_UPDATED, (CATALOG_STREAM,), ProgramRead())

PUBLISHES: tuple[EventSpec, ...] = (profile_completed, profile_reopened)
CONSUMES: tuple[EventSpec, ...] = (program_created, program_updated)
