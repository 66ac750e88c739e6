"""Errors every service's use cases raise (plain Python, no Flask); ``create_service_app``
turns them into 404 and 422 answers in the error envelope."""

from __future__ import annotations

import re


class NotFound(Exception):
    def __init__(self, entity: str, entity_id: object) -> None:
        super().__init__(f"{entity.capitalize()} {entity_id} does not exist.")
        self.entity = entity
        self.entity_id = entity_id
        self.message = str(self)

    @property
    def code(self) -> str:
        """``program_not_found``; ``registration_request_not_found`` for two-word entities."""
        return re.sub(r"[^a-z0-9]+", "_", self.entity.lower()).strip("_") + "_not_found"


class InvalidInput(Exception):
    """Input that is well-formed but refers to things that cannot go together."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in fields.items()))
        self.fields = fields


class Conflict(Exception):
    """A request that is well-formed but not possible in the current state (a 409): a commit of
    a run that is not finished, a capacity below the seats already taken."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
