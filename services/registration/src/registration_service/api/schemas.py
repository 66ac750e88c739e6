"""Request and response schemas; the OpenAPI document is generated from these."""

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema
from servicekit.schema_fields import (
    ID_PATTERN,
    BoundedDateTime,
    Id,
    Int,
    StrictSchema,
    Text,
    id_range,
)

from registration_service.api.fields import CommaSeparated
from registration_service.domain.model import Action, SectionStatus

MAX_INCLUDE = 20
MAX_VERBS = 20

NAME_PATTERN = r"[A-Za-z][A-Za-z0-9 _/.-]{0,63}"
NAME = validate.Regexp(
    f"^{NAME_PATTERN}$",
    error="Must start with a letter and use at most 64 letters, digits, spaces or _/.-",
)
MAX_CAPACITY = 100_000
MAX_OPENING_WINDOW = 86_400


class Grade(Int):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(0, 13, metadata={"description": "A grade from 0 (K) to 13."}, **kwargs)


def _check_grade_range(data: dict) -> None:
    if "grade_min" in data and "grade_max" in data and data["grade_min"] > data["grade_max"]:
        raise ValidationError("Must be at least grade_min.", field_name="grade_max")


class ProgramInSchema(StrictSchema):
    name = Text(200, min_length=1, required=True)
    grade_min = Grade(required=True)
    grade_max = Grade(required=True)
    student_capacity = Int(0, 1_000_000, load_default=None, allow_none=True)
    use_priority = fields.Boolean(load_default=False)
    priority_limit = Int(1, 100, load_default=None, allow_none=True)
    registration_opens_at = BoundedDateTime(load_default=None, allow_none=True)
    registration_closes_at = BoundedDateTime(load_default=None, allow_none=True)
    opening_window_seconds = Int(1, MAX_OPENING_WINDOW, load_default=None, allow_none=True)
    waitlist_limit_per_timeslot = Int(1, 100, load_default=1)
    time_zone = Text(64, min_length=1, load_default="UTC")

    @validates_schema
    def _ranges(self, data: dict, **_: object) -> None:
        _check_grade_range(data)


class ProgramPatchSchema(StrictSchema):
    """Any program field; those not given keep their value."""

    name = Text(200, min_length=1)
    grade_min = Grade()
    grade_max = Grade()
    student_capacity = Int(0, 1_000_000, allow_none=True)
    use_priority = fields.Boolean()
    priority_limit = Int(1, 100, allow_none=True)
    registration_opens_at = BoundedDateTime(allow_none=True)
    registration_closes_at = BoundedDateTime(allow_none=True)
    opening_window_seconds = Int(1, MAX_OPENING_WINDOW, allow_none=True)
    waitlist_limit_per_timeslot = Int(1, 100)
    time_zone = Text(64, min_length=1)

    @validates_schema
    def _something(self, data: dict, **_: object) -> None:
        if not data:
            raise ValidationError("Give at least one field to change.", field_name="body")


class ProgramSchema(Schema):
    id = fields.Integer()
    name = fields.String()
    grade_min = fields.Integer()
    grade_max = fields.Integer()
    student_capacity = fields.Integer(allow_none=True)
    student_count = fields.Integer(metadata={"description": "Students holding at least one seat."})
    use_priority = fields.Boolean()
    priority_limit = fields.Integer(allow_none=True)
    registration_opens_at = fields.AwareDateTime(allow_none=True)
    registration_closes_at = fields.AwareDateTime(allow_none=True)
    opening_window_seconds = fields.Integer(
        allow_none=True,
        metadata={
            "description": "Requests arriving before opening and this long after it wait, "
            "then go in a random order per student; null: first come, first served."
        },
    )
    waitlist_limit_per_timeslot = fields.Integer(
        metadata={"description": "How many waitlists a student may be on in one timeslot."}
    )
    time_zone = fields.String(
        metadata={"description": "Where the program happens (IANA name); pages show times there."}
    )


class WaitingRoomSchema(Schema):
    releases_at = fields.AwareDateTime(
        allow_none=True,
        metadata={"description": "registration_opens_at + opening_window_seconds; null: none."},
    )
    released_at = fields.AwareDateTime(allow_none=True, metadata={"description": "Null until."})
    waiting_students = fields.Integer(metadata={"description": "Students waiting now."})
    waiting_requests = fields.Integer(metadata={"description": "Requests waiting now."})


class OpeningSchema(WaitingRoomSchema):
    seed = fields.Integer(allow_none=True, metadata={"description": "Null until released."})
    student_order = fields.List(
        fields.Integer(), metadata={"description": "The waiting students in release order."}
    )


class ProgramListSchema(Schema):
    programs = fields.List(fields.Nested(ProgramSchema))


class TimeslotInSchema(StrictSchema):
    start = BoundedDateTime(required=True)
    end = BoundedDateTime(required=True)

    @validates_schema
    def _ordered(self, data: dict, **_: object) -> None:
        if "start" in data and "end" in data and data["end"] <= data["start"]:
            raise ValidationError("Must be after start.", field_name="end")


class TimeslotListSchema(Schema):
    timeslots = fields.List(fields.Nested(lambda: TimeslotSchema()))


class TimeslotSchema(Schema):
    id = fields.Integer()
    start = fields.AwareDateTime()
    end = fields.AwareDateTime()


class SectionInSchema(StrictSchema):
    capacity = Int(0, MAX_CAPACITY, required=True)
    timeslot_ids = fields.List(Id(), required=True, validate=validate.Length(min=1, max=50))


class SectionPatchSchema(StrictSchema):
    capacity = Int(0, MAX_CAPACITY)
    status = fields.String(validate=validate.OneOf([s.value for s in SectionStatus]))

    @validates_schema
    def _something(self, data: dict, **_: object) -> None:
        if not data:
            raise ValidationError("Give capacity, status or both.", field_name="body")


class ClassInSchema(StrictSchema):
    title = Text(300, min_length=1, required=True)
    grade_min = Grade(required=True)
    grade_max = Grade(required=True)
    sections = fields.List(
        fields.Nested(SectionInSchema), required=True, validate=validate.Length(min=1, max=100)
    )

    @validates_schema
    def _ranges(self, data: dict, **_: object) -> None:
        _check_grade_range(data)


class SectionSchema(Schema):
    id = fields.Integer()
    capacity = fields.Integer()
    enrolled = fields.Integer(attribute="enrolled_count")
    status = fields.String()
    timeslot_ids = fields.Method("_timeslot_ids")

    def _timeslot_ids(self, section: object) -> list[int]:
        return [t.id for t in section.timeslots]


class ClassSchema(Schema):
    id = fields.Integer()
    title = fields.String()
    grade_min = fields.Integer()
    grade_max = fields.Integer()
    sections = fields.List(fields.Nested(SectionSchema))


class CatalogSectionSchema(Schema):
    """A section as the catalog lists it (read as columns, not objects)."""

    id = fields.Integer()
    capacity = fields.Integer()
    enrolled = fields.Integer()
    status = fields.String()
    timeslot_ids = fields.List(fields.Integer())


class CatalogClassSchema(ClassSchema):
    sections = fields.List(fields.Nested(CatalogSectionSchema))


class CatalogSchema(Schema):
    classes = fields.List(fields.Nested(CatalogClassSchema))


class RegistrationTypeQuerySchema(StrictSchema):
    category = fields.String(load_default=None, validate=NAME)
    include = CommaSeparated(
        fields.String(validate=NAME),
        item_pattern=NAME_PATTERN,
        max_items=MAX_INCLUDE,
        load_default=list,
        metadata={"description": "Names to return; an admin's missing names are created."},
    )


class RegistrationTypeSchema(Schema):
    name = fields.String()
    display_name = fields.String()
    description = fields.String()
    category = fields.String()


def _verbs(**kwargs: object) -> CommaSeparated:
    return CommaSeparated(
        fields.String(validate=NAME), item_pattern=NAME_PATTERN, max_items=MAX_VERBS, **kwargs
    )


class VerbsQuerySchema(StrictSchema):
    verbs = _verbs(load_default=lambda: ["Enrolled"])


class StudentSectionsQuerySchema(StrictSchema):
    verbs = _verbs(load_default=list)
    valid_only = fields.Boolean(load_default=True)


class PriorityQuerySchema(StrictSchema):
    timeslot_ids = CommaSeparated(
        fields.Integer(validate=id_range()),
        item_pattern=ID_PATTERN,
        max_items=50,
        required=True,
    )


class StudentIdsSchema(Schema):
    student_ids = fields.List(fields.Integer())


class StudentSectionSchema(Schema):
    section_id = fields.Integer()
    class_id = fields.Integer()
    verb = fields.String()


class StudentSectionsSchema(Schema):
    sections = fields.List(fields.Nested(StudentSectionSchema))


class StudentClassSchema(Schema):
    class_id = fields.Integer()
    title = fields.String()


class StudentClassesSchema(Schema):
    classes = fields.List(fields.Nested(StudentClassSchema))


class PrioritySchema(Schema):
    priority = fields.Integer()


class RequestInSchema(StrictSchema):
    student_id = Id(required=True)
    action = fields.String(
        required=True, validate=validate.OneOf([action.value for action in Action])
    )
    section_id = Id(required=True)
    from_section_id = Id(load_default=None, allow_none=True)
    waitlist = fields.Boolean(load_default=False)

    @validates_schema
    def _switch_needs_a_source(self, data: dict, **_: object) -> None:
        switching = data.get("action") == Action.SWITCH
        if switching and data.get("from_section_id") is None:
            raise ValidationError("Required when action is 'switch'.", field_name="from_section_id")
        if not switching and data.get("from_section_id") is not None:
            raise ValidationError(
                "Only allowed when action is 'switch'.", field_name="from_section_id"
            )
        if switching and data.get("from_section_id") == data.get("section_id"):
            raise ValidationError("Must differ from section_id.", field_name="from_section_id")
        if data.get("waitlist") and data.get("action") != Action.ENROLL:
            raise ValidationError("Only allowed when action is 'enroll'.", field_name="waitlist")


class HeaderSchema(Schema):
    """Requests carry many headers a schema does not name: those are ignored, not refused."""

    class Meta:
        unknown = EXCLUDE


class IdempotencyHeaderSchema(HeaderSchema):
    idempotency_key = fields.String(
        data_key="Idempotency-Key",
        load_default=None,
        validate=[
            validate.Length(min=1, max=200),
            validate.Regexp(r"^[\x21-\x7e]+$", error="Must be printable ASCII without spaces."),
        ],
        metadata={"description": "Retrying with the same key returns the same request."},
    )


class RequestAcceptedSchema(Schema):
    id = fields.String()
    status = fields.String(
        metadata={"description": "queued, or waiting in a fair opening's window (see the program)"}
    )


class WaitlistEntrySchema(Schema):
    student_id = fields.Integer()
    position = fields.Integer()


class WaitlistSchema(Schema):
    students = fields.List(fields.Nested(WaitlistEntrySchema))


class RequestSchema(Schema):
    id = fields.String()
    program_id = fields.Integer()
    student_id = fields.Integer()
    action = fields.String()
    section_id = fields.Integer()
    from_section_id = fields.Integer(allow_none=True)
    waitlist = fields.Boolean()
    status = fields.String(metadata={"description": "waiting, queued, accepted or rejected"})
    reason = fields.String(allow_none=True)
    message = fields.String(allow_none=True)
    verb = fields.String(allow_none=True)
    position = fields.Integer(
        allow_none=True,
        metadata={"description": "While Waitlisted: the place in line, 1 = next."},
    )
    created_at = fields.AwareDateTime()
    decided_at = fields.AwareDateTime(allow_none=True)
    correlation_id = fields.String(
        allow_none=True,
        metadata={
            "description": "The X-Request-ID of the call that submitted it (null for a request "
            "stored before request ids were kept); its outcome event carries the same."
        },
    )


class RequestListSchema(Schema):
    requests = fields.List(fields.Nested(RequestSchema))


STREAM_ID = r"^[0-9]{1,20}-[0-9]{1,20}$"


class OutcomeStreamHeaderSchema(HeaderSchema):
    last_event_id = fields.String(
        data_key="Last-Event-ID",
        load_default=None,
        validate=validate.Regexp(STREAM_ID, error="Must be a stream id such as 1700000000000-0."),
        metadata={"description": "Sent by EventSource when it reconnects: resume after it."},
    )


class OutcomeStreamQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    last_event_id = fields.String(
        load_default=None,
        validate=validate.Regexp(STREAM_ID, error="Must be a stream id such as 1700000000000-0."),
        metadata={"description": "Resume after this event (the Last-Event-ID header wins)."},
    )
