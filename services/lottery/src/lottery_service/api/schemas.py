"""Request and response schemas; the OpenAPI document is generated from these."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import (
    INCLUDE,
    Schema,
    ValidationError,
    fields,
    post_dump,
    post_load,
    validate,
    validates_schema,
)
from servicekit.schema_fields import ID_PATTERN, MAX_ID, Id, Int, StrictSchema

MAX_RANKED = 100  # classes ranked in one timeslot
MAX_TIME_LIMIT = 600
_KEY = re.compile(ID_PATTERN)


class StarInSchema(StrictSchema):
    class_id = Id(required=True)


class StarSchema(Schema):
    program_id = fields.Integer()
    student_id = fields.Integer()
    class_id = fields.Integer()
    start_date = fields.AwareDateTime()


class StarListSchema(Schema):
    class_ids = fields.List(fields.Integer())


class StudentIdsSchema(Schema):
    student_ids = fields.List(fields.Integer())


class RankingSchema(Schema):
    """``{"<timeslot_id>": [class_id ranked 1, class_id ranked 2, ..]}``; errors are named
    ``"<timeslot_id>"`` or ``"<timeslot_id>.<index>"``."""

    class Meta:
        unknown = INCLUDE
        # What marshmallow cannot say, in the OpenAPI document: keys are timeslot ids and each
        # value a ranked list of class ids; the checks below refuse exactly what this excludes.
        openapi_extra = {
            "propertyNames": {"pattern": f"^{ID_PATTERN}$"},
            "additionalProperties": {
                "type": "array",
                "maxItems": MAX_RANKED,
                "items": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
            },
        }

    @validates_schema
    def _shape(self, data: dict[str, Any], **_: object) -> None:
        errors: dict[str, list[str]] = {}
        for key, value in data.items():
            if not isinstance(key, str) or not _KEY.fullmatch(key):
                errors[str(key)] = [f"Keys are timeslot ids from 1 to {MAX_ID}."]
            elif not isinstance(value, list):
                errors[key] = ["Must be a list of class ids, ranked first to last."]
            elif len(value) > MAX_RANKED:
                errors[key] = [f"At most {MAX_RANKED} classes per timeslot."]
            else:
                for index, item in enumerate(value):
                    if isinstance(item, bool) or not isinstance(item, int):
                        errors[f"{key}.{index}"] = ["Must be a class id (an integer)."]
                    elif not 1 <= item <= MAX_ID:
                        errors[f"{key}.{index}"] = [f"Must be an id from 1 to {MAX_ID}."]
        if errors:
            raise ValidationError(errors)

    @post_dump(pass_original=True)
    def _as_given(self, _data: dict[str, Any], original: dict[str, Any], **_: object) -> Any:
        return {str(key): list(value) for key, value in original.items()}

    @post_load
    def _keyed_by_timeslot(self, data: dict[str, Any], **_: object) -> dict[int, list[int]]:
        return {int(key): list(value) for key, value in data.items()}


class ImportStarSchema(StrictSchema):
    student_id = Id(required=True)
    class_id = Id(required=True)


class ImportPrioritySchema(StrictSchema):
    student_id = Id(required=True)
    timeslot_id = Id(required=True)
    rank = Int(1, MAX_RANKED, required=True)
    class_id = Id(required=True)


class ImportCapSchema(StrictSchema):
    student_id = Id(required=True)
    max_sections = Int(1, 1000, load_default=None, allow_none=True)
    max_timeslots = Int(1, 1000, load_default=None, allow_none=True)


class PreferencesInSchema(StrictSchema):
    stars = fields.List(fields.Nested(ImportStarSchema), required=True)
    priorities = fields.List(fields.Nested(ImportPrioritySchema), required=True)
    caps = fields.List(
        fields.Nested(ImportCapSchema),
        load_default=list,
        metadata={"description": "Optional per-student limits for the lottery."},
    )


class ImportCountsSchema(Schema):
    stars = fields.Integer(metadata={"description": "Active stars after the import."})
    priorities = fields.Integer()
    caps = fields.Integer()


class RunInSchema(StrictSchema):
    seed = Int(0, 2**31 - 1, load_default=None, allow_none=True)
    time_limit_seconds = fields.Float(
        load_default=None,
        allow_none=True,
        validate=validate.Range(1, MAX_TIME_LIMIT, error="Must be from {min} to {max} seconds."),
        metadata={"description": "The solver's limit; LOTTERY_TIME_LIMIT_SECONDS when null."},
    )


class RunSchema(Schema):
    id = fields.Integer()
    program_id = fields.Integer()
    status = fields.String(
        metadata={
            "description": "queued, running, done, failed, committing, committed, reverting "
            "or reverted"
        }
    )
    phase = fields.String(allow_none=True, metadata={"description": "What a running run does."})
    seed = fields.Integer()
    time_limit_seconds = fields.Float()
    stats = fields.Dict(allow_none=True)
    error = fields.String(allow_none=True)
    created_at = fields.AwareDateTime()
    started_at = fields.AwareDateTime(allow_none=True)
    finished_at = fields.AwareDateTime(allow_none=True)
    committed_at = fields.AwareDateTime(
        allow_none=True,
        metadata={"description": "The start_date of every registration the commit made."},
    )
    decided_at = fields.AwareDateTime(allow_none=True)
    reverted_at = fields.AwareDateTime(allow_none=True)


class RunStartedSchema(Schema):
    id = fields.Integer()
    status = fields.String()


class RunListSchema(Schema):
    runs = fields.List(fields.Nested(RunSchema))


class AssignmentSchema(Schema):
    student_id = fields.Integer()
    section_id = fields.Integer()
    outcome = fields.String(
        allow_none=True, metadata={"description": "After a commit: pending, accepted, rejected."}
    )
    reason = fields.String(allow_none=True)


class AssignmentListSchema(Schema):
    assignments = fields.List(fields.Nested(AssignmentSchema))
