"""The profile service's settings, from environment variables."""

from __future__ import annotations

from functools import lru_cache

from servicekit.settings import ServiceSettings


class ProfileSettings(ServiceSettings):
    database_url: str = "sqlite:///var/profile.sqlite3"


@lru_cache
def get_settings() -> ProfileSettings:
    return ProfileSettings()
