"""The lottery service's settings, from environment variables."""

from __future__ import annotations

from functools import lru_cache

from servicekit.settings import ServiceSettings


class LotterySettings(ServiceSettings):
    database_url: str = "sqlite:///var/lottery.sqlite3"


@lru_cache
def get_settings() -> LotterySettings:
    return LotterySettings()
