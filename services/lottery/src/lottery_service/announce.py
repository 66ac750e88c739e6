"""Announce again what registration has not decided of every run still committing or reverting:
``lottery-announce-runs``.

For registration's relay stopped longer than the streams' retention (``STREAM_RETENTION_SECONDS``)
while a run was being committed: it logs ``consumer group registration of stream lottery.runs
missed events`` naming this command. Registration stores each assignment under its idempotency
key, so running it twice, or for assignments it already has, stores nothing twice. Reads
``DATABASE_URL``; the relay publishes what it stages.
"""

from __future__ import annotations

from servicekit.db import make_session_factory

from lottery_service.settings import LotterySettings
from lottery_service.use_cases.commits import announce_pending_runs


def main() -> None:
    engine, sessions = make_session_factory(LotterySettings().database_url)
    with sessions() as session, session.begin():
        runs = announce_pending_runs(session)
    engine.dispose()
    print(f"staged the pending assignments of runs {runs} again; the relay publishes them")


if __name__ == "__main__":
    main()
