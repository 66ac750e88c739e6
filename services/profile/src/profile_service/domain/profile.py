"""What makes a profile complete, and how a new program's draft starts from the latest one.

A profile is a document of what the student gave. Registration needs only a few of its fields;
the rest are for organisers, so asking for more never blocks registration.
"""

from __future__ import annotations

import copy
from typing import Any

Document = dict[str, Any]

# Dotted paths of the fields registration needs; the grade comes from ``graduation_year``.
REQUIRED_FIELDS: tuple[str, ...] = (
    "graduation_year",
    "first_name",
    "last_name",
    "email",
    "phone",
    "emergency_contact.name",
    "emergency_contact.phone",
    "guardian.name",
)
# Contact for the guardian: one of these suffices.
GUARDIAN_CONTACT = ("guardian.email", "guardian.phone")

# Top-level fields about one program rather than the student: a draft does not copy them.
PER_PROGRAM_FIELDS: tuple[str, ...] = ("heard_about",)


def _get(document: Document, path: str) -> Any:
    value: Any = document
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _present(value: Any) -> bool:
    return value not in (None, "")


def missing_fields(document: Document) -> list[str]:
    """The required fields not yet given, as dotted paths (empty when the profile is complete)."""
    missing = [path for path in REQUIRED_FIELDS if not _present(_get(document, path))]
    if not any(_present(_get(document, path)) for path in GUARDIAN_CONTACT):
        missing.append("guardian.phone")
    return missing


def is_complete(document: Document) -> bool:
    return not missing_fields(document)


def draft_from(latest: Document | None) -> Document:
    """A new program's starting point: a copy of the latest profile, minus per-program fields."""
    if latest is None:
        return {}
    draft = copy.deepcopy(latest)
    for path in PER_PROGRAM_FIELDS:
        draft.pop(path, None)
    return draft
