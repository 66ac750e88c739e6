"""The lottery service's settings, from environment variables."""

from __future__ import annotations

from functools import lru_cache

from servicekit.settings import ServiceSettings


class LotterySettings(ServiceSettings):
    database_url: str = "sqlite:///var/lottery.sqlite3"
    # The solver's time limit when a run names none; at the limit it keeps its best solution
    # and reports the gap. A run may ask for its own, from 1 to 600 seconds.
    lottery_time_limit_seconds: float = 10.0
    # A queued run whose task message was lost is sent again after this long.
    requeue_after_seconds: float = 30.0
    sweep_interval_seconds: float = 5.0
    # The admin import of a whole program's preferences (3,000 students: about 5 MB of JSON)
    # may be this large; every other body keeps MAX_BODY_BYTES.
    max_import_bytes: int = 64 * 1024 * 1024


@lru_cache
def get_settings() -> LotterySettings:
    return LotterySettings()
