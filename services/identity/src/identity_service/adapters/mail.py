"""Messages to people: SMTP in production, ``.eml`` files in a folder under ``make up`` and in
tests (a test reads the link from the newest file). Never logs a message's body: its links are
credentials."""

from __future__ import annotations

import logging
import smtplib
import time
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from identity_service.settings import IdentitySettings

log = logging.getLogger(__name__)


class Mailer(Protocol):
    def send(self, to: str, subject: str, body: str) -> None: ...


def _message(sender: str, to: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, to, subject
    message.set_content(body, cte="7bit")  # links whole in the file: grep token= works
    return message


class Mailbox:
    """Writes each message as ``<time>-<id>.eml`` in ``directory``."""

    def __init__(self, directory: str | Path, sender: str) -> None:
        self.directory = Path(directory)
        self.sender = sender

    def send(self, to: str, subject: str, body: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns()}-{uuid.uuid4().hex[:8]}.eml"
        path = self.directory / name
        path.write_bytes(bytes(_message(self.sender, to, subject, body)))
        log.info("wrote a message to %s", path.name)


class SmtpMailer:
    def __init__(self, settings: IdentitySettings) -> None:
        self.settings = settings

    def send(self, to: str, subject: str, body: str) -> None:
        s = self.settings
        assert s.smtp_host is not None
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=10) as smtp:
            if s.smtp_starttls:
                smtp.starttls()
            if s.smtp_user and s.smtp_password:
                smtp.login(s.smtp_user, s.smtp_password)
            smtp.send_message(_message(s.mail_from, to, subject, body))


def make_mailer(settings: IdentitySettings) -> Mailer:
    if settings.smtp_host:
        return SmtpMailer(settings)
    return Mailbox(settings.mail_dir, settings.mail_from)
