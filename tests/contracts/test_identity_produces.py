"""The identity service emits account events shaped like their golden examples, on the stream
its ``events.py`` declares, and never an email or a name."""

from __future__ import annotations

from identity_service import events
from identity_service.adapters.models import outbox
from identity_service.domain.accounts import Role
from identity_service.use_cases import accounts


def test_a_sign_up_and_an_admins_change_are_announced_like_the_goldens(
    identity_session, like_golden, staged
):
    new = accounts.NewAccount("ada@example.org", "correct horse battery staple", "Ada")
    account = accounts.sign_up(identity_session, new)
    [(stream, created)] = staged(identity_session, outbox, events.ACCOUNT_CREATED)
    assert stream == events.ACCOUNTS_STREAM
    like_golden(created, events.ACCOUNT_CREATED, id=account.id)
    accounts.update_account(identity_session, account.id, role=Role.ADMIN, disabled=True)
    [(stream, updated)] = staged(identity_session, outbox, events.ACCOUNT_UPDATED)
    assert stream == events.ACCOUNTS_STREAM
    like_golden(updated, events.ACCOUNT_UPDATED, id=account.id)
    assert "ada" not in str(created) + str(updated)
