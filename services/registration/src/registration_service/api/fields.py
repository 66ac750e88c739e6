"""Query-string fields spelled as comma-separated lists (``verbs=Enrolled,Waitlisted``)."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError, fields


class CommaSeparated(fields.Field):
    """``"a,b"`` → ``["a", "b"]``, each item loaded by ``item`` (blank items are ignored)."""

    def __init__(self, item: fields.Field, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.item = item

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[Any]:
        if not isinstance(value, str):
            raise ValidationError("Must be a comma-separated list.")
        parts = [part.strip() for part in value.split(",") if part.strip()]
        try:
            return [self.item.deserialize(part) for part in parts]
        except ValidationError as exc:
            raise ValidationError(f"Every item must be valid: {exc.messages}") from exc

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else ",".join(str(v) for v in value)
