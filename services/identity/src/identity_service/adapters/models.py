"""Tables of the identity service: accounts, sign-in sessions (refresh-token families), the
single-use tokens of emailed links, and the outbox of account events."""

from __future__ import annotations

from datetime import UTC, datetime

from servicekit.db import UtcDateTime
from servicekit.outbox import define_outbox_table
from sqlalchemy import ForeignKey, Index, MetaData, String
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData()


class AccountRow(Base):
    """A person. ``id`` is the ``student_id`` every other service uses. ``email`` is stored
    normalized (lower case), so its unique index makes addresses unique case-insensitively."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20), default="student")
    password_hash: Mapped[str] = mapped_column(String(200))  # argon2id, never logged
    email_verified: Mapped[bool] = mapped_column(default=False)
    disabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class RefreshTokenRow(Base):
    """One refresh token, stored only as its SHA-256. Every token of one sign-in shares a
    ``family``: using a token spends it (``used_at``) and issues the next; using a spent one
    again means it was stolen, and revokes the whole family."""

    __tablename__ = "refresh_tokens"
    __table_args__ = (Index("ix_refresh_tokens_family", "family"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    family: Mapped[str] = mapped_column(String(32))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class LinkTokenRow(Base):
    """The token of an emailed link (``purpose``: verify or reset), stored only as its SHA-256;
    it works once, before ``expires_at``."""

    __tablename__ = "link_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(20))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


outbox = define_outbox_table(Base.metadata)
