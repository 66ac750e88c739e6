"""Accounts: who people are, in plain Python (no framework)."""

from __future__ import annotations

import re
from enum import StrEnum

# Deliberately plain: one @, something on each side, a dot in the domain, no spaces. The real
# check is the verification message reaching the address.
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
MAX_EMAIL = 254


class Role(StrEnum):
    STUDENT = "student"
    ADMIN = "admin"


def normalize_email(email: str) -> str:
    """One spelling per address: surrounding spaces dropped, compared case-insensitively."""
    return email.strip().lower()


def email_problem(email: str) -> str | None:
    """Why ``email`` cannot be an account's address, or None."""
    if len(email) > MAX_EMAIL or not _EMAIL.fullmatch(email):
        return "Must be an email address such as name@example.org."
    return None
