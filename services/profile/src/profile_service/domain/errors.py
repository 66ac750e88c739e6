"""Domain errors; the HTTP layer maps them to 404 and 422."""

from __future__ import annotations


class NotFound(Exception):
    def __init__(self, entity: str, key: object) -> None:
        super().__init__(f"{entity} {key} not found")
        self.entity = entity
        self.message = f"No {entity} with id {key}."


class InvalidInput(Exception):
    def __init__(self, fields: dict[str, list[str]]) -> None:
        super().__init__(fields)
        self.fields = fields
