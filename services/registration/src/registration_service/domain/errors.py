"""Errors the use cases raise; the HTTP layer turns them into 404 and 422 answers."""

from servicekit.domain_errors import InvalidInput, NotFound

__all__ = ["InvalidInput", "NotFound"]
