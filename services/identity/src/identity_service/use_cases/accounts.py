"""Accounts: sign up, verify the address, reset a password, and what admins change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from servicekit.domain_errors import Conflict, InvalidInput, NotFound
from servicekit.outbox import add_to_outbox
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from identity_service import events
from identity_service.adapters.hashing import hash_password
from identity_service.adapters.models import AccountRow, outbox
from identity_service.domain.accounts import Role, email_problem, normalize_email
from identity_service.domain.passwords import password_problem
from identity_service.use_cases import links
from identity_service.use_cases.sessions import revoke_all

LINK_REFUSED = "This link is not valid any more: it was used, or it expired. Ask for a new one."


@dataclass(frozen=True)
class NewAccount:
    email: str
    password: str
    display_name: str
    role: Role = Role.STUDENT
    email_verified: bool = False


def sign_up(session: Session, new: NewAccount) -> AccountRow:
    """Store a new account; InvalidInput names the field (a weak password, a bad address),
    Conflict ``email_taken`` when the address has an account (verified or not)."""
    email = normalize_email(new.email)
    errors: dict[str, list[str]] = {}
    if problem := email_problem(email):
        errors["email"] = [problem]
    if problem := password_problem(new.password, email=email):
        errors["password"] = [problem]
    if not new.display_name.strip():
        errors["display_name"] = ["Tell us what to call you."]
    if errors:
        raise InvalidInput(errors)
    account = AccountRow(
        email=email,
        display_name=new.display_name.strip(),
        role=str(new.role),
        password_hash=hash_password(new.password),
        email_verified=new.email_verified,
    )
    try:
        with session.begin_nested():
            session.add(account)
    except IntegrityError as exc:
        raise Conflict("email_taken", "An account with this email exists; sign in.") from exc
    add_to_outbox(session, outbox, events.ACCOUNTS_STREAM, events.account_created.event(account))
    return account


def verification_link_token(session: Session, account: AccountRow, lifetime: timedelta) -> str:
    links.spend_all(session, account.id, links.VERIFY)  # only the newest link works
    return links.new_link_token(session, account.id, links.VERIFY, lifetime)


def verify_email(session: Session, token: str) -> AccountRow:
    account_id = links.spend_link_token(session, token, links.VERIFY)
    if account_id is None:
        raise InvalidInput({"token": [LINK_REFUSED]})
    account = get_account(session, account_id)
    account.email_verified = True
    return account


def find_by_email(session: Session, email: str) -> AccountRow | None:
    return session.scalars(
        select(AccountRow).where(AccountRow.email == normalize_email(email))
    ).one_or_none()


def get_account(session: Session, account_id: int) -> AccountRow:
    account = session.get(AccountRow, account_id)
    if account is None:
        raise NotFound("account", account_id)
    return account


def get_account_of(session: Session, subject: str) -> AccountRow:
    """The account a token's ``sub`` names."""
    if not subject.isdigit() or int(subject) > 2**31 - 1:
        raise NotFound("account", subject)
    return get_account(session, int(subject))


def reset_link_token(session: Session, email: str, lifetime: timedelta) -> tuple[str, str] | None:
    """(address, token) for a reset link, or None when no usable account has this address (the
    caller answers the same either way)."""
    account = find_by_email(session, email)
    if account is None or account.disabled:
        return None
    links.spend_all(session, account.id, links.RESET)
    return account.email, links.new_link_token(session, account.id, links.RESET, lifetime)


def reset_password(session: Session, token: str, password: str) -> AccountRow:
    """Set a new password with a reset link's token; every session of the account ends, and
    the address counts as verified (the link reached it)."""
    account_id = links.spend_link_token(session, token, links.RESET)
    if account_id is None:
        raise InvalidInput({"token": [LINK_REFUSED]})
    account = get_account(session, account_id)
    if problem := password_problem(password, email=account.email):
        raise InvalidInput({"password": [problem]})
    account.password_hash = hash_password(password)
    account.email_verified = True
    revoke_all(session, account.id)
    return account


def update_account(
    session: Session, account_id: int, *, role: Role | None = None, disabled: bool | None = None
) -> AccountRow:
    """An admin's change; disabling revokes every session of the account at once."""
    account = get_account(session, account_id)
    if role is not None:
        account.role = str(role)
    if disabled is not None:
        account.disabled = disabled
        if disabled:
            revoke_all(session, account.id)
    session.flush()
    add_to_outbox(session, outbox, events.ACCOUNTS_STREAM, events.account_updated.event(account))
    return account
