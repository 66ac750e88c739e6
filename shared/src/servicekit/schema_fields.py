"""Marshmallow fields with the bounds every service's input needs, so that none is forgotten.

Integer and string bounds are validators, which also puts them in the generated OpenAPI
document, so a client generated from the spec refuses what the server refuses; the datetime year
range is checked on load and only described in the document.
- Integers are strict (``7.5`` and ``"7"`` are refused, never truncated) and bounded, since the
  databases store at most 64-bit integers and ids are 32-bit.
- Strings have a maximum length.
- Datetimes carry a time zone and lie between 2000 and 2100, far from the calendar's edges
  where converting to UTC overflows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

MAX_ID = 2**31 - 1
MAX_INT = 2**31 - 1
EARLIEST_YEAR = 2000
LATEST_YEAR = 2100


class StrictSchema(Schema):
    """Unknown fields are errors, so a typo is named instead of silently ignored."""

    class Meta:
        unknown = RAISE


# 1..2,147,483,647 as a regular expression, for ids inside strings (comma-separated queries).
ID_PATTERN = (
    r"(?:[1-9][0-9]{0,8}|1[0-9]{9}|20[0-9]{8}|21[0-3][0-9]{7}|214[0-6][0-9]{6}"
    r"|2147[0-3][0-9]{5}|21474[0-7][0-9]{4}|214748[0-2][0-9]{3}|2147483[0-5][0-9]{2}"
    r"|21474836[0-3][0-9]|214748364[0-7])"
)


def id_range() -> validate.Range:
    return validate.Range(min=1, max=MAX_ID, error="Must be an id from {min} to {max}.")


class Id(fields.Integer):
    """A positive 32-bit id."""

    def __init__(self, **kwargs: Any) -> None:
        extra = _as_list(kwargs.pop("validate", None))
        super().__init__(strict=True, validate=[id_range(), *extra], **kwargs)


class Int(fields.Integer):
    """A whole number within ``minimum``..``maximum``."""

    def __init__(self, minimum: int = 0, maximum: int = MAX_INT, **kwargs: Any) -> None:
        bounds = validate.Range(min=minimum, max=maximum, error="Must be from {min} to {max}.")
        extra = _as_list(kwargs.pop("validate", None))
        super().__init__(strict=True, validate=[bounds, *extra], **kwargs)


class Text(fields.String):
    """A string of at most ``max_length`` characters."""

    def __init__(self, max_length: int, min_length: int = 0, **kwargs: Any) -> None:
        length = validate.Length(min=min_length, max=max_length)
        extra = _as_list(kwargs.pop("validate", None))
        super().__init__(validate=[length, *extra], **kwargs)


class BoundedDateTime(fields.AwareDateTime):
    """An ISO 8601 datetime with a time zone, in the years 2000 to 2100."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = kwargs.pop("metadata", {})
        note = f"Between {EARLIEST_YEAR}-01-01 and {LATEST_YEAR}-12-31, with a time zone."
        description = f"{metadata['description']} {note}" if "description" in metadata else note
        super().__init__(metadata={**metadata, "description": description}, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> datetime:
        parsed = super()._deserialize(value, attr, data, **kwargs)
        if not EARLIEST_YEAR <= parsed.year <= LATEST_YEAR:
            raise ValidationError(f"Must be between {EARLIEST_YEAR}-01-01 and {LATEST_YEAR}-12-31.")
        return parsed


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list | tuple) else [value]
