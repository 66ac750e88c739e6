"""Request and response bodies of the profile API (the OpenAPI document is generated from these)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema
from servicekit.schema_fields import Int, StrictSchema

SHIRT_SIZES = ("XS", "S", "M", "L", "XL", "XXL", "XXXL")
_PHONE_CHARACTERS = re.compile(r"^\+?[0-9 ().\-]+((x|ext\.?) ?[0-9]{1,6})?$", re.IGNORECASE)
_EXTENSION = re.compile(r"x|ext", re.IGNORECASE)


def _phone(value: str) -> None:
    """7 to 15 digits before any extension (E.164 allows 15), in the usual punctuation."""
    digits = sum(character.isdigit() for character in _EXTENSION.split(value)[0])
    if not _PHONE_CHARACTERS.match(value.strip()) or not 7 <= digits <= 15:
        raise ValidationError("Not a valid phone number; use digits, spaces, +, -, ( and ).")


def _text(max_length: int = 200, **kwargs: Any) -> fields.String:
    return fields.String(allow_none=True, validate=validate.Length(max=max_length), **kwargs)


def _phone_field(**kwargs: Any) -> fields.String:
    return fields.String(allow_none=True, validate=[validate.Length(max=40), _phone], **kwargs)


def _email_field(**kwargs: Any) -> fields.Email:
    return fields.Email(allow_none=True, validate=validate.Length(max=254), **kwargs)


class AddressSchema(StrictSchema):
    street = _text()
    city = _text(100)
    state = _text(100)
    postal_code = _text(20)
    country = _text(100)


class EmergencyContactSchema(StrictSchema):
    name = _text()
    phone = _phone_field()
    alt_phone = _phone_field()
    relation = _text(100)

    @validates_schema
    def _one_phone(self, data: dict, **_: Any) -> None:
        if any(data.values()) and not (data.get("phone") or data.get("alt_phone")):
            raise ValidationError("Give at least one phone number.", "phone")


class GuardianSchema(StrictSchema):
    name = _text()
    email = _email_field()
    phone = _phone_field()


def _nested(schema: type[Schema], **kwargs: Any) -> fields.Nested:
    return fields.Nested(schema, allow_none=True, **kwargs)


class ProfileFieldsSchema(StrictSchema):
    """What a student tells us; every field may be left out, the profile is then incomplete."""

    graduation_year = Int(1950, 2100, allow_none=True)
    first_name = _text(100)
    last_name = _text(100)
    email = _email_field()
    phone = _phone_field(metadata={"description": "Day phone."})
    cell_phone = _phone_field()
    address = _nested(AddressSchema)
    emergency_contact = _nested(EmergencyContactSchema)
    guardian = _nested(GuardianSchema)
    school = _text()
    date_of_birth = fields.Date(
        allow_none=True,
        validate=validate.Range(date(1900, 1, 1), date(2100, 12, 31)),
        metadata={"description": "Between 1900-01-01 and 2100-12-31."},
    )
    pronouns = _text(50)
    shirt_size = fields.String(allow_none=True, validate=validate.OneOf(SHIRT_SIZES))
    dietary_needs = _text(2000)
    medical_needs = _text(2000)
    heard_about = _text(500, metadata={"description": "How the student heard of the program."})


class ProfileInSchema(ProfileFieldsSchema):
    """``PUT`` replaces the whole profile: fields left out (or null) are cleared."""

    grade = Int(
        1,
        12,
        allow_none=True,
        metadata={
            "description": "Instead of graduation_year; stored as a graduation year. "
            "When both are given they must agree."
        },
    )

    @post_load
    def _json_ready(self, data: dict, **_: Any) -> dict:
        """Dates as ISO strings and no nulls, ready for the JSON column."""
        grade = data.pop("grade", None)
        document = _drop_empty(ProfileFieldsSchema().dump(data))
        return document | ({"grade": grade} if grade is not None else {})


def _drop_empty(value: Any) -> Any:
    if isinstance(value, dict):
        kept = {key: _drop_empty(item) for key, item in value.items()}
        return {key: item for key, item in kept.items() if item not in (None, "", {})}
    return value


class ProfileSchema(ProfileFieldsSchema):
    """A saved profile or a draft; the stored fields come back as they were saved."""

    date_of_birth = fields.String(allow_none=True, metadata={"format": "date"})  # stored ISO
    id = fields.Integer(allow_none=True, metadata={"description": "Null for an unsaved draft."})
    complete = fields.Boolean()
    student_id = fields.Integer()
    program_id = fields.Integer()
    grade = fields.Integer(allow_none=True)
    missing_fields = fields.List(
        fields.String(), metadata={"description": "Required fields still to give."}
    )
    updated_at = fields.DateTime(allow_none=True)
