"""The profile service's settings, from environment variables."""

from __future__ import annotations

from functools import lru_cache

from pydantic import field_validator
from servicekit.settings import ServiceSettings

from profile_service.domain.grades import Rollover


class ProfileSettings(ServiceSettings):
    database_url: str = "sqlite:///var/profile.sqlite3"
    # The day (MM-DD) a new school year begins and grades go up; the ESP Website's is 31 July.
    grade_rollover: str = "07-31"

    @field_validator("grade_rollover")
    @classmethod
    def _valid_day(cls, value: str) -> str:
        try:
            Rollover.parse(value)
        except ValueError as exc:
            raise ValueError("GRADE_ROLLOVER must be a day of the year as MM-DD") from exc
        return value


@lru_cache
def get_settings() -> ProfileSettings:
    return ProfileSettings()
