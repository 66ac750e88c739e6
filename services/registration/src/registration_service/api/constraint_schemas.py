"""Schemas of schedule constraints and lunch; the OpenAPI document is generated from these.

An expression is recursive, which OpenAPI tools handle poorly, so the document describes one
level of it (each operator and its argument's type and bounds) and the grammar in words; the
use case checks the whole of it and names the path of what is wrong."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate
from servicekit.schema_fields import MAX_ID, Id, StrictSchema, Text

from registration_service.api.schemas import ClassSchema
from registration_service.domain.constraints import MAX_DEPTH, MAX_NODES

_ONE_KEY: dict[str, Any] = {"type": "object", "minProperties": 1, "maxProperties": 1}
_IDS: dict[str, Any] = {
    "type": "array",
    "maxItems": MAX_NODES - 1,
    "items": {"type": "integer", "minimum": 1, "maximum": MAX_ID},
}
_ID: dict[str, Any] = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
_EXPRESSIONS: dict[str, Any] = {"type": "array", "maxItems": MAX_NODES - 1, "items": _ONE_KEY}
EXPRESSION_DOC = {
    **_ONE_KEY,
    "additionalProperties": False,
    "properties": {
        "all": _EXPRESSIONS,
        "any": _EXPRESSIONS,
        "not": _ONE_KEY,
        "occupied": _ID,
        "in_class": _ID,
        "in_sections": _IDS,
    },
    "description": (
        'An expression over the student\'s Enrolled sections: {"all": [expr, ..]} (an empty '
        'list holds), {"any": [expr, ..]} (an empty list does not), {"not": expr}, '
        '{"occupied": timeslot_id}, {"in_class": class_id} or {"in_sections": [section_id, ..]}.'
        f" At most {MAX_DEPTH} levels deep and {MAX_NODES} parts; every id must be the"
        " program's."
    ),
}


def expression(**kwargs: Any) -> fields.Dict:
    return fields.Dict(metadata=EXPRESSION_DOC, **kwargs)


class ConstraintInSchema(StrictSchema):
    label = Text(200, min_length=1, required=True)
    condition = expression(load_default=None, allow_none=True)
    requirement = expression(required=True)


class ConstraintSchema(Schema):
    id = fields.Integer()
    label = fields.String()
    condition = fields.Dict(allow_none=True)
    requirement = fields.Dict()


class ConstraintListSchema(Schema):
    constraints = fields.List(fields.Nested(ConstraintSchema))


class LunchInSchema(StrictSchema):
    timeslot_ids = fields.List(Id(), required=True, validate=validate.Length(min=1, max=50))


class LunchSchema(Schema):
    classes = fields.List(fields.Nested(ClassSchema))
    constraints = fields.List(fields.Nested(ConstraintSchema))
