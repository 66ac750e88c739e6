"""Request and response schemas; the OpenAPI document is generated from these."""

from __future__ import annotations

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate, validates_schema

from registration_service.api.fields import CommaSeparated

GRADE = validate.Range(min=0, max=13, error="Must be a grade from 0 (K) to 13.")
ID = validate.Range(min=1, error="Must be a positive id.")
NAME = validate.Regexp(
    r"^[A-Za-z][A-Za-z0-9 _/.-]{0,63}$",
    error="Must start with a letter and use at most 64 letters, digits, spaces or _/.-",
)


class StrictSchema(Schema):
    """Unknown fields are errors, so a typo is named instead of silently ignored."""

    class Meta:
        unknown = RAISE


def _check_grade_range(data: dict) -> None:
    if "grade_min" in data and "grade_max" in data and data["grade_min"] > data["grade_max"]:
        raise ValidationError("Must be at least grade_min.", field_name="grade_max")


class ProgramInSchema(StrictSchema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    grade_min = fields.Integer(required=True, validate=GRADE)
    grade_max = fields.Integer(required=True, validate=GRADE)
    student_capacity = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(min=0)
    )
    use_priority = fields.Boolean(load_default=False)
    priority_limit = fields.Integer(
        load_default=None, allow_none=True, validate=validate.Range(min=1)
    )
    registration_opens_at = fields.AwareDateTime(load_default=None, allow_none=True)
    registration_closes_at = fields.AwareDateTime(load_default=None, allow_none=True)

    @validates_schema
    def _ranges(self, data: dict, **_: object) -> None:
        _check_grade_range(data)


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


class ProgramListSchema(Schema):
    programs = fields.List(fields.Nested(ProgramSchema))


class TimeslotInSchema(StrictSchema):
    start = fields.AwareDateTime(required=True)
    end = fields.AwareDateTime(required=True)

    @validates_schema
    def _ordered(self, data: dict, **_: object) -> None:
        if "start" in data and "end" in data and data["end"] <= data["start"]:
            raise ValidationError("Must be after start.", field_name="end")


class TimeslotSchema(Schema):
    id = fields.Integer()
    start = fields.AwareDateTime()
    end = fields.AwareDateTime()


class SectionInSchema(StrictSchema):
    capacity = fields.Integer(required=True, validate=validate.Range(min=0, max=100_000))
    timeslot_ids = fields.List(
        fields.Integer(validate=ID), required=True, validate=validate.Length(min=1, max=50)
    )


class ClassInSchema(StrictSchema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=300))
    grade_min = fields.Integer(required=True, validate=GRADE)
    grade_max = fields.Integer(required=True, validate=GRADE)
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


class CatalogSchema(Schema):
    classes = fields.List(fields.Nested(ClassSchema))


class RegistrationTypeQuerySchema(StrictSchema):
    category = fields.String(load_default=None, validate=NAME)
    include = CommaSeparated(fields.String(validate=NAME), load_default=list)


class RegistrationTypeSchema(Schema):
    name = fields.String()
    display_name = fields.String()
    description = fields.String()
    category = fields.String()


class VerbsQuerySchema(StrictSchema):
    verbs = CommaSeparated(fields.String(validate=NAME), load_default=lambda: ["Enrolled"])


class StudentSectionsQuerySchema(StrictSchema):
    verbs = CommaSeparated(fields.String(validate=NAME), load_default=list)
    valid_only = fields.Boolean(load_default=True)


class PriorityQuerySchema(StrictSchema):
    timeslot_ids = CommaSeparated(fields.Integer(validate=ID), required=True)


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
    student_id = fields.Integer(required=True, validate=ID)
    action = fields.String(required=True, validate=validate.OneOf(["enroll", "drop", "switch"]))
    section_id = fields.Integer(required=True, validate=ID)
    from_section_id = fields.Integer(load_default=None, allow_none=True, validate=ID)
    waitlist = fields.Boolean(load_default=False)

    @validates_schema
    def _switch_needs_a_source(self, data: dict, **_: object) -> None:
        switching = data.get("action") == "switch"
        if switching and data.get("from_section_id") is None:
            raise ValidationError("Required when action is 'switch'.", field_name="from_section_id")
        if not switching and data.get("from_section_id") is not None:
            raise ValidationError(
                "Only allowed when action is 'switch'.", field_name="from_section_id"
            )
        if switching and data.get("from_section_id") == data.get("section_id"):
            raise ValidationError("Must differ from section_id.", field_name="from_section_id")
        if data.get("waitlist") and data.get("action") != "enroll":
            raise ValidationError("Only allowed when action is 'enroll'.", field_name="waitlist")


class IdempotencyHeaderSchema(Schema):
    class Meta:
        unknown = EXCLUDE

    idempotency_key = fields.String(
        data_key="Idempotency-Key",
        load_default=None,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "Retrying with the same key returns the same request."},
    )


class RequestAcceptedSchema(Schema):
    id = fields.String()
    status = fields.String()


class RequestSchema(Schema):
    id = fields.String()
    program_id = fields.Integer()
    student_id = fields.Integer()
    action = fields.String()
    section_id = fields.Integer()
    from_section_id = fields.Integer(allow_none=True)
    waitlist = fields.Boolean()
    status = fields.String(metadata={"description": "queued, accepted or rejected"})
    reason = fields.String(allow_none=True)
    message = fields.String(allow_none=True)
    verb = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
    decided_at = fields.AwareDateTime(allow_none=True)


class OutcomeStreamQuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE

    last_event_id = fields.String(
        load_default=None,
        validate=validate.Regexp(
            r"^\d+-\d+$", error="Must be a stream id such as 1700000000000-0."
        ),
        metadata={"description": "Resume after this event (the Last-Event-ID header wins)."},
    )
