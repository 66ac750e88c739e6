"""The identity service's contract: the events it publishes, for any service that keeps
accounts in a read model (none has to: every service trusts the token alone).

``identity.account.created.v1`` when someone signs up (or an admin is made), and
``identity.account.updated.v1`` when an admin changes a role or disables an account (its
sessions are revoked then). No email, no name: ids and what a service may act on.
"""

from __future__ import annotations

from servicekit.event_contracts import (
    EventSpec,
    PayloadSchema,
    required_bool,
    required_int,
    required_text,
)

PRODUCER = "identity"
ACCOUNTS_STREAM = "identity.accounts"
ACCOUNT_CREATED = "identity.account.created.v1"
ACCOUNT_UPDATED = "identity.account.updated.v1"


class AccountPayload(PayloadSchema):
    id = required_int()
    role = required_text()
    disabled = required_bool()


account_created = EventSpec(ACCOUNT_CREATED, (ACCOUNTS_STREAM,), AccountPayload())
account_updated = EventSpec(ACCOUNT_UPDATED, (ACCOUNTS_STREAM,), AccountPayload())
PUBLISHES: tuple[EventSpec, ...] = (account_created, account_updated)
CONSUMES: tuple[EventSpec, ...] = ()
