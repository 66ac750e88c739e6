"""The password policy: long enough, and not one of the passwords attackers try first.

NIST SP 800-63B's advice: a minimum length, a check against commonly used passwords, no
composition rules. The list ships with the code (``common_passwords.txt``, the most common
passwords of public breach corpora), so the check needs no network.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

MIN_LENGTH = 10
MAX_LENGTH = 256  # argon2 takes any length; a bound keeps a request's hashing cost bounded


@cache
def _common() -> frozenset[str]:
    path = Path(__file__).with_name("common_passwords.txt")
    return frozenset(line.strip().lower() for line in path.read_text().splitlines() if line.strip())


def password_problem(password: str, *, email: str | None = None) -> str | None:
    """Why ``password`` is refused, as a sentence for the person choosing it; None if fine."""
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    lowered = password.lower()
    if lowered in _common():
        return "This password is one of the most common ones; choose another."
    if len(set(password)) < 4:
        return "This password repeats too few characters; choose another."
    if email and email.split("@", 1)[0].lower() in lowered and len(email.split("@", 1)[0]) >= 4:
        return "Do not use your email address in your password."
    return None
