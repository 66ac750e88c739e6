"""Test helpers for the profile service: tokens and a complete profile to vary."""

from __future__ import annotations

from devstack.tokens import issue_token

# Two hours: a module's tokens are signed at import (collection), and the suite runs for 8-15
# minutes on a 2-core machine; a token signed for 10 minutes expired before a late test used it.
TOKEN_TTL = 7200


def bearer(subject: int | str, role: str = "student", ttl: int = TOKEN_TTL) -> dict[str, str]:
    """Headers with a token for ``subject`` (the same order as ``registration_testkit.bearer``)."""
    return {"Authorization": f"Bearer {issue_token(subject, role, ttl)}"}


ADMIN = bearer("admin", "admin")


def complete_profile(**changes) -> dict:
    profile = {
        "graduation_year": 2030,
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@example.org",
        "phone": "+1 (617) 555-0100",
        "emergency_contact": {"name": "Anne", "phone": "617-555-0101", "relation": "aunt"},
        "guardian": {"name": "Annabella", "email": "annabella@example.org"},
        "school": "Ockham High",
        "shirt_size": "M",
        "date_of_birth": "2012-12-10",
        "heard_about": "A poster",
    }
    return profile | changes
