"""Bearer tokens signed by the identity service: who is calling, and may they act for this student?

Every service but identity only *verifies*: it holds the identity service's public keys (its
JWKS, fetched and cached, or given inline or as a file for tests and offline deployments) and
no secret that could mint a token. A token must be ES256, name a key (``kid``) of that set, and
carry the expected ``iss`` and ``aud``, a ``sub``, a ``role`` and an ``exp``; anything else
(``alg: none``, HS256 with the public key as the secret, a key of another issuer) is a 401.

Framework-free so the worker, scripts and tests use the same rules as the HTTP layer.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import jwt

log = logging.getLogger(__name__)

ALGORITHM = "ES256"  # the only one accepted: asymmetric, so verifying never means minting
REFETCH_AFTER_SECONDS = 5.0  # an unknown kid refetches the set at most this often
KEYS_LIFETIME_SECONDS = 300.0  # a cached set is refetched at least this often (rotations)


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


class KeySet:
    """The identity service's public keys by ``kid``, from a loader (a URL, a file, inline
    JSON), cached; refetched when a token names a key not in it (at most every
    ``REFETCH_AFTER_SECONDS``, so garbage kids cannot hammer identity) and every
    ``KEYS_LIFETIME_SECONDS`` (so a retired key stops being trusted)."""

    def __init__(self, load: Callable[[], dict[str, Any]], *, source: str) -> None:
        self._load = load
        self.source = source
        self._keys: dict[str, Any] = {}
        self._fetched_at = float("-inf")
        self._lock = threading.Lock()

    @classmethod
    def from_settings(
        cls, url: str | None = None, inline: str | None = None, file: str | None = None
    ) -> KeySet:
        if inline:
            document = json.loads(inline)
            return cls(lambda: document, source="JWT_JWKS")
        if file:
            path = Path(file)
            return cls(lambda: json.loads(path.read_text()), source=str(path))
        if url:
            return cls(lambda: _fetch_json(url), source=url)
        raise ValueError("set JWT_JWKS_URL (or JWT_JWKS / JWT_JWKS_FILE): no keys to verify with")

    def key(self, kid: str) -> Any:
        now = time.monotonic()
        with self._lock:
            stale = now - self._fetched_at > KEYS_LIFETIME_SECONDS
            unknown = kid not in self._keys and now - self._fetched_at > REFETCH_AFTER_SECONDS
            if stale or unknown:
                self._refresh(now)
            found = self._keys.get(kid)
        if found is None:
            raise AuthError(401, "invalid_token", "The token was signed with an unknown key.")
        return found

    def _refresh(self, now: float) -> None:
        try:
            document = self._load()
            keys = jwt.PyJWKSet.from_dict(document).keys
        except Exception:  # identity away: keep what we had, try again later
            log.warning("could not read the signing keys from %s", self.source, exc_info=True)
            self._fetched_at = now - KEYS_LIFETIME_SECONDS + REFETCH_AFTER_SECONDS
            return
        self._keys = {key.key_id: key.key for key in keys if key.key_id}
        self._fetched_at = now


def _fetch_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as response:  # a configured URL, not a user's
        document: dict[str, Any] = json.loads(response.read())
    return document


class TokenVerifier:
    def __init__(self, keys: KeySet, issuer: str, audience: str) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience

    def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise AuthError(401, "invalid_token", f"The bearer token is not valid: {exc}.") from exc
        if header.get("alg") != ALGORITHM or not isinstance(header.get("kid"), str):
            raise AuthError(
                401, "invalid_token", f"The token must be signed {ALGORITHM} and name its key."
            )
        key = self._keys.key(header["kid"])
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[ALGORITHM],
                issuer=self._issuer,
                audience=self._audience,
                options={"require": ["sub", "role", "exp", "iss", "aud"]},
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
