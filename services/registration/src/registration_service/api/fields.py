"""Query-string fields spelled as comma-separated lists (``verbs=Enrolled,Waitlisted``)."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import ValidationError, fields


class CommaSeparated(fields.Field):
    """``"a,b"`` → ``["a", "b"]``, each item loaded by ``item``.

    The whole value must match ``item_pattern`` items joined by commas, at most ``max_items``
    of them, and the same pattern is written into the OpenAPI document, so the spec refuses
    exactly what the server refuses.
    """

    def __init__(
        self, item: fields.Field, *, item_pattern: str, max_items: int, **kwargs: Any
    ) -> None:
        pattern = f"^{item_pattern}(,{item_pattern}){{0,{max_items - 1}}}$"
        metadata = {"type": "string", "pattern": pattern, **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)
        self.item = item
        self.max_items = max_items
        self._pattern = re.compile(pattern)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list[Any]:
        if not isinstance(value, str) or not self._pattern.match(value):
            raise ValidationError(
                f"Must be a comma-separated list of at most {self.max_items} items, "
                "with no spaces around the commas."
            )
        try:
            return [self.item.deserialize(part) for part in value.split(",")]
        except ValidationError as exc:
            raise ValidationError(f"Every item must be valid: {exc.messages}") from exc

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else ",".join(str(v) for v in value)
