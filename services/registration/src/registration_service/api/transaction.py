"""One transaction per request: the view owns it, the use cases only flush."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import current_app
from sqlalchemy.orm import Session, sessionmaker

EXTENSION = "registration.sessions"


@contextmanager
def transaction() -> Iterator[Session]:
    sessions: sessionmaker[Session] = current_app.extensions[EXTENSION]
    with sessions() as session, session.begin():
        yield session
