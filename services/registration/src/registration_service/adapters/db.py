"""The engine and session factory for one process, built from settings."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from servicekit.db import make_engine


def make_session_factory(database_url: str) -> tuple[Engine, sessionmaker[Session]]:
    engine = make_engine(database_url)
    return engine, sessionmaker(engine, expire_on_commit=False)
