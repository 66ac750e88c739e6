"""JWT bearer tokens (HS256): who is calling, and may they act for this student?

Framework-free so the worker, scripts and tests use the same rules as the HTTP layer.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

import jwt

ALGORITHM = "HS256"


class Role(StrEnum):
    STUDENT = "student"
    ADMIN = "admin"


class AuthError(Exception):
    """A refused token or action; ``status`` is 401 (who are you?) or 403 (not allowed)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Principal:
    """The caller named by a verified token."""

    subject: str
    role: Role

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN

    def ensure_admin(self) -> None:
        if not self.is_admin:
            raise AuthError(403, "forbidden", "This action needs an admin token.")

    def ensure_can_act_for(self, student_id: int) -> None:
        """Students act only for themselves; admins act for anyone."""
        if self.is_admin:
            return
        if self.subject != str(student_id):
            raise AuthError(
                403, "forbidden", f"Your token is for student {self.subject}, not {student_id}."
            )


class TokenVerifier:
    def __init__(self, secret: str) -> None:
        self._secret = secret

    def verify(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                options={"require": ["sub", "role", "exp"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthError(401, "token_expired", "Your token has expired; sign in again.") from exc
        except jwt.PyJWTError as exc:
            raise AuthError(401, "invalid_token", f"The bearer token is not valid: {exc}.") from exc
        try:
            role = Role(claims["role"])
        except ValueError as exc:
            raise AuthError(
                401, "invalid_token", "The token's role must be 'student' or 'admin'."
            ) from exc
        return Principal(subject=str(claims["sub"]), role=role)

    def verify_header(self, header: str | None) -> Principal:
        """Verify an ``Authorization`` header value of the form ``Bearer <token>``."""
        if not header:
            raise AuthError(401, "missing_token", "Send an 'Authorization: Bearer <JWT>' header.")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthError(
                401, "invalid_token", "The Authorization header must read 'Bearer <JWT>'."
            )
        return self.verify(token.strip())


def issue_token(secret: str, subject: str | int, role: Role | str, ttl_seconds: int = 3600) -> str:
    """Sign a token; for local use, tests and service-to-service calls."""
    now = int(time.time())
    claims = {"sub": str(subject), "role": str(Role(role)), "iat": now, "exp": now + ttl_seconds}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)
