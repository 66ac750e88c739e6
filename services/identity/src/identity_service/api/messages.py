"""The messages people get, sent after the transaction that made their link commits."""

from __future__ import annotations

from flask import current_app

from identity_service.adapters.mail import Mailer
from identity_service.settings import IdentitySettings

MAILER = "identity.mailer"


def _send(to: str, subject: str, body: str) -> None:
    mailer: Mailer = current_app.extensions[MAILER]
    mailer.send(to, subject, body)


def _link(path: str, token: str) -> str:
    settings: IdentitySettings = current_app.extensions["identity.settings"]
    return f"{settings.public_url.rstrip('/')}/{path}?token={token}"


def send_verification(to: str, name: str, token: str) -> None:
    _send(
        to,
        "Confirm your email address",
        f"Hello {name},\n\nConfirm your address to finish signing up:\n\n"
        f"{_link('verify', token)}\n\nThe link works once, for 48 hours. If you did not sign "
        "up, ignore this message.\n",
    )


def send_reset(to: str, token: str) -> None:
    _send(
        to,
        "Reset your password",
        f"Someone asked to reset the password of this address.\n\n{_link('reset', token)}\n\n"
        "The link works once, for an hour. If it was not you, ignore this message: your "
        "password stays as it is.\n",
    )
