"""A transaction per view: the view owns it, the use cases only flush (the rush path's intake
groups concurrent requests into one instead, see ``servicekit.group_commit``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask import Flask, current_app
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

EXTENSION = "servicekit.sessions"


def install_sessions(app: Flask, sessions: sessionmaker[Session]) -> None:
    app.extensions[EXTENSION] = sessions


@contextmanager
def transaction() -> Iterator[Session]:
    """A session in a transaction that commits when the block ends and rolls back on error."""
    sessions: sessionmaker[Session] = current_app.extensions[EXTENSION]
    with sessions() as session, session.begin():
        yield session


def dispose_sessions(app: Flask) -> None:
    """Close the pooled connections of the engine behind the app's sessions, for a test or a
    script done with the app (a connection left to the garbage collector warns)."""
    sessions: sessionmaker[Session] = app.extensions[EXTENSION]
    engine: Engine = sessions.kw["bind"]
    engine.dispose()
