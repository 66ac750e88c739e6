"""Event contracts: one schema per payload, checked on the producer's side and read on the
consumer's, and an :class:`EventSpec` per event type on its streams.

Each service declares its own contract in its ``events.py`` with these pieces; services never
import each other, so a consumer keeps a schema of only the fields it reads (unknown fields
excluded: a producer's additive change passes). No Flask: workers and relays import this.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields

from servicekit.events import Event

_MISSING = object()


class PayloadSchema(Schema):
    """One payload's fields. Every field is always present (None where ``allow_none``).

    marshmallow's ``dump`` validates nothing, and a ``load`` round trip per event would cost a
    batch producer (registration's decider emits one outcome per request) several times more:
    :meth:`build` checks each value's type with checks compiled once from the fields, then
    dumps.
    """

    class Meta:
        unknown = EXCLUDE

    def __init__(self) -> None:
        super().__init__()
        self._checks = tuple(
            (name, _check_of(field), field.allow_none) for name, field in self.dump_fields.items()
        )

    def build(self, source: object) -> dict[str, Any]:
        """The payload of ``source`` (an object or a mapping); ValidationError when it is wrong."""
        errors = self.problems(source)
        if errors:
            raise ValidationError(errors)
        payload: dict[str, Any] = self.dump(source)
        return payload

    def problems(self, source: object) -> dict[str, list[str]]:
        """What is missing or of the wrong type in ``source``, by field name (empty: none)."""
        get = source.get if isinstance(source, Mapping) else partial(getattr, source)
        errors: dict[str, list[str]] = {}
        for name, (is_valid, expected), nullable in self._checks:
            value = get(name, _MISSING)
            if value is _MISSING:
                errors[name] = ["Missing."]
            elif value is None:
                if not nullable:
                    errors[name] = ["May not be null."]
            elif not is_valid(value):
                errors[name] = [f"Not {expected}: {type(value).__name__}."]
        return errors


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_str(value: object) -> bool:
    return isinstance(value, str)


def _is_aware(value: object) -> bool:
    return isinstance(value, datetime) and value.tzinfo is not None


def _is_object(value: object) -> bool:
    return isinstance(value, dict) and all(isinstance(key, str) for key in value)


def _is_bool(value: object) -> bool:
    return isinstance(value, bool)


_CHECKS: tuple[tuple[type[fields.Field[Any]], Callable[[object], bool], str], ...] = (
    (fields.Boolean, _is_bool, "a boolean"),
    (fields.Integer, _is_int, "an integer"),
    (fields.String, _is_str, "a string"),
    (fields.AwareDateTime, _is_aware, "a timezone-aware datetime"),
    (fields.Dict, _is_object, "a JSON object"),
)


def _check_of(field: fields.Field[Any]) -> tuple[Callable[[object], bool], str]:
    if isinstance(field, fields.List):
        is_item, expected = _check_of(field.inner)
        return (
            lambda value: isinstance(value, list | tuple) and all(map(is_item, value)),
            f"a list of {expected}",
        )
    if isinstance(field, fields.Nested):
        nested = field.schema
        if not isinstance(nested, PayloadSchema):
            raise TypeError("a nested payload needs a PayloadSchema")
        return (lambda value: value is not None and not nested.problems(value)), "an object"
    for kind, is_valid, expected in _CHECKS:
        if isinstance(field, kind):
            return is_valid, expected
    raise TypeError(f"no payload check for {type(field).__name__}; add one to _CHECKS")


def required_int(**kwargs: Any) -> fields.Integer:
    return fields.Integer(strict=True, required=True, **kwargs)


def required_text(**kwargs: Any) -> fields.String:
    return fields.String(required=True, **kwargs)


def required_moment(**kwargs: Any) -> fields.AwareDateTime:
    return fields.AwareDateTime(required=True, **kwargs)


def required_object(**kwargs: Any) -> fields.Dict:
    """A JSON object passed as it is (an expression, say): its own shape is its owner's."""
    return fields.Dict(keys=fields.String(), required=True, **kwargs)


def required_bool(**kwargs: Any) -> fields.Boolean:
    return fields.Boolean(required=True, **kwargs)


def required_list(item: fields.Field[Any] | type[PayloadSchema], **kwargs: Any) -> fields.List[Any]:
    """A list of ``item``: a field, or a :class:`PayloadSchema` class for a list of objects."""
    inner = fields.Nested(item()) if isinstance(item, type) else item
    return fields.List(inner, required=True, **kwargs)


_EVENT_TYPE = re.compile(r"(?P<producer>[a-z_]+)\.[a-z_]+\.[a-z_]+\.v(?P<version>[1-9][0-9]*)")


@dataclass(frozen=True)
class EventSpec:
    """One event type on its streams, with the schema of its payload."""

    event_type: str
    streams: tuple[str, ...]
    schema: PayloadSchema

    def __post_init__(self) -> None:
        if _EVENT_TYPE.fullmatch(self.event_type) is None:
            raise ValueError(f"{self.event_type!r} is not <producer>.<entity>.<verb>.v<N>")

    @property
    def producer(self) -> str:
        return self.event_type.split(".", 1)[0]

    @property
    def version(self) -> int:
        return int(self.event_type.rsplit(".v", 1)[1])

    def event(self, source: object, *, correlation_id: str | None = None) -> Event:
        """The event of ``source`` (an object or a mapping with the payload's fields); its
        ``correlation_id`` is the one given, else the context's (the request being served)."""
        payload = self.schema.build(source)
        if correlation_id is None:
            return Event(self.event_type, self.producer, payload)
        return Event(self.event_type, self.producer, payload, correlation_id=correlation_id)

    def read(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """The fields this service reads; ValidationError when one is missing or wrong."""
        loaded: dict[str, Any] = self.schema.load(payload)
        return loaded
