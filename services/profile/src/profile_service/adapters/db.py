"""The engine and session factory for one process, built from settings."""

from __future__ import annotations

from typing import Any

from servicekit.db import make_engine
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker


def make_session_factory(
    database_url: str, **engine_options: Any
) -> tuple[Engine, sessionmaker[Session]]:
    engine = make_engine(database_url, **engine_options)
    return engine, sessionmaker(engine, expire_on_commit=False)
