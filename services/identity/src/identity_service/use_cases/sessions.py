"""Sign-in sessions: a short-lived access token (signed by the key ring) and an opaque refresh
token, rotated on every use. A refresh token used twice was copied: its whole family (every
token of that sign-in) is revoked, the thief's and the owner's alike."""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from servicekit.auth import AuthError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from identity_service.adapters.hashing import password_matches
from identity_service.adapters.models import AccountRow, RefreshTokenRow
from identity_service.domain.accounts import normalize_email
from identity_service.keys import KeyRing

INVALID_CREDENTIALS = AuthError(
    401, "invalid_credentials", "The email or the password is not right."
)


@dataclass(frozen=True)
class TokenPolicy:
    keys: KeyRing
    issuer: str
    audience: str
    access_seconds: int
    refresh_seconds: int


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: str = "Bearer"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def sign_in(session: Session, email: str, password: str, policy: TokenPolicy) -> Tokens:
    """A new session; one answer (401 invalid_credentials) for a wrong email or password, after
    the same hashing work; 403 for an unverified address or a disabled account (the password
    was right, so that says nothing to a stranger)."""
    account = session.scalars(
        select(AccountRow).where(AccountRow.email == normalize_email(email))
    ).one_or_none()
    if not password_matches(account.password_hash if account else None, password):
        raise INVALID_CREDENTIALS
    assert account is not None
    if not account.email_verified:
        raise AuthError(
            403, "email_not_verified", "Verify your email first: follow the link we sent you."
        )
    if account.disabled:
        raise AuthError(403, "account_disabled", "This account is disabled; ask an organiser.")
    return _issue(session, account, uuid.uuid4().hex, policy)


def refresh(session: Session, refresh_token: str, policy: TokenPolicy) -> Tokens | AuthError:
    """Spend ``refresh_token`` for a new pair of the same family. A reused token's refusal is
    returned, not raised: the family's revocation must commit before the 401 goes out."""
    now = datetime.now(UTC)
    row = _find(session, refresh_token)
    if row is None or row.revoked_at is not None or row.expires_at <= now:
        raise AuthError(401, "invalid_refresh_token", "Sign in again: this session has ended.")
    spent = session.execute(
        update(RefreshTokenRow)
        .where(RefreshTokenRow.id == row.id, RefreshTokenRow.used_at.is_(None))
        .values(used_at=now)
    ).rowcount
    if not spent:  # used before: a copy is in someone else's hands
        _revoke_family(session, row.family)
        return AuthError(
            401,
            "refresh_token_reused",
            "This session was used from elsewhere and has been ended; sign in again.",
        )
    account = session.get(AccountRow, row.account_id)
    if account is None or account.disabled:
        raise AuthError(401, "invalid_refresh_token", "Sign in again: this session has ended.")
    return _issue(session, account, row.family, policy)


def revoke(session: Session, refresh_token: str) -> None:
    """Sign out: the session (the token's family) ends. An unknown token is already ended."""
    row = _find(session, refresh_token)
    if row is not None:
        _revoke_family(session, row.family)


def _find(session: Session, refresh_token: str) -> RefreshTokenRow | None:
    return session.scalars(
        select(RefreshTokenRow).where(RefreshTokenRow.token_hash == _digest(refresh_token))
    ).one_or_none()


def revoke_all(session: Session, account_id: int) -> None:
    session.execute(
        update(RefreshTokenRow)
        .where(RefreshTokenRow.account_id == account_id, RefreshTokenRow.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )


def _revoke_family(session: Session, family: str) -> None:
    session.execute(
        update(RefreshTokenRow)
        .where(RefreshTokenRow.family == family, RefreshTokenRow.revoked_at.is_(None))
        .values(revoked_at=datetime.now(UTC))
    )


def access_token(account: AccountRow, policy: TokenPolicy) -> str:
    now = int(time.time())
    return policy.keys.sign(
        {
            "iss": policy.issuer,
            "aud": policy.audience,
            "sub": str(account.id),
            "role": account.role,
            "iat": now,
            "exp": now + policy.access_seconds,
            "jti": uuid.uuid4().hex,
        }
    )


def _issue(session: Session, account: AccountRow, family: str, policy: TokenPolicy) -> Tokens:
    refresh_token = secrets.token_urlsafe(32)
    session.add(
        RefreshTokenRow(
            token_hash=_digest(refresh_token),
            family=family,
            account_id=account.id,
            expires_at=datetime.now(UTC) + timedelta(seconds=policy.refresh_seconds),
        )
    )
    session.flush()
    return Tokens(access_token(account, policy), refresh_token, policy.access_seconds)
