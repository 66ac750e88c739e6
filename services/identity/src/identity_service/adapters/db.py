"""The engine and session factory for one process, built from settings (the kit's, so every
service opens its database the same way)."""

from servicekit.db import make_session_factory

__all__ = ["make_session_factory"]
