"""Helpers for the identity tests: read the local mailbox as a person reads their email."""

from __future__ import annotations

import email
import re
import time
from pathlib import Path

PASSWORD = "correct horse battery staple"


def messages(mail_dir: str | Path) -> list[email.message.Message]:
    folder = Path(mail_dir)
    return [email.message_from_bytes(p.read_bytes()) for p in sorted(folder.glob("*.eml"))]


def link_token(mail_dir: str | Path, to: str, subject_word: str, timeout: float = 5) -> str:
    """The ``token=`` of the newest message to ``to`` whose subject has ``subject_word``."""
    deadline = time.monotonic() + timeout
    while True:
        for message in reversed(messages(mail_dir)):
            if message["To"] == to and subject_word in message["Subject"]:
                found = re.search(
                    r"token=([A-Za-z0-9_\-]+)", message.get_payload(decode=True).decode()
                )
                assert found, message.get_payload()
                return found.group(1)
        assert time.monotonic() < deadline, f"no {subject_word!r} message to {to}"
        time.sleep(0.05)


def sign_up(client, email_address: str, password: str = PASSWORD, name: str = "Ada"):
    return client.post(
        "/v1/accounts", json={"email": email_address, "password": password, "display_name": name}
    )


def verified_account(client, settings, email_address: str, password: str = PASSWORD) -> int:
    made = sign_up(client, email_address, password)
    assert made.status_code == 201, made.json
    token = link_token(settings.mail_dir, made.json["email"], "Confirm")
    assert client.post("/v1/accounts/verify", json={"token": token}).status_code == 200
    return made.json["id"]


def sign_in(client, email_address: str, password: str = PASSWORD):
    return client.post("/v1/sessions", json={"email": email_address, "password": password})


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
