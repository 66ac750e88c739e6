"""Single-use tokens of emailed links (verify an address, reset a password): random, stored
only as a SHA-256, good once and until they expire. A token in a link is as good as a password
for its purpose, so it is never stored or logged as it is."""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.orm import Session

from identity_service.adapters.models import LinkTokenRow

VERIFY = "verify"
RESET = "reset"


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_link_token(session: Session, account_id: int, purpose: str, lifetime: timedelta) -> str:
    token = secrets.token_urlsafe(32)
    session.add(
        LinkTokenRow(
            token_hash=digest(token),
            purpose=purpose,
            account_id=account_id,
            expires_at=datetime.now(UTC) + lifetime,
        )
    )
    session.flush()
    return token


def spend_link_token(session: Session, token: str, purpose: str) -> int | None:
    """The account the token is for, spending it; None when it is unknown, spent or expired.
    One conditional update: two clicks at once spend it once."""
    now = datetime.now(UTC)
    account_id = session.execute(
        update(LinkTokenRow)
        .where(
            LinkTokenRow.token_hash == digest(token),
            LinkTokenRow.purpose == purpose,
            LinkTokenRow.used_at.is_(None),
            LinkTokenRow.expires_at > now,
        )
        .values(used_at=now)
        .returning(LinkTokenRow.account_id)
    ).scalar_one_or_none()
    return account_id


def spend_all(session: Session, account_id: int, purpose: str) -> None:
    """Every outstanding link of the account for ``purpose`` stops working."""
    session.execute(
        update(LinkTokenRow)
        .where(
            LinkTokenRow.account_id == account_id,
            LinkTokenRow.purpose == purpose,
            LinkTokenRow.used_at.is_(None),
        )
        .values(used_at=datetime.now(UTC))
    )
