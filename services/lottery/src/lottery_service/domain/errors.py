"""Errors the use cases raise; the HTTP layer turns them into 404, 409 and 422 answers."""

from servicekit.domain_errors import Conflict, InvalidInput, NotFound

__all__ = ["Conflict", "InvalidInput", "NotFound"]
