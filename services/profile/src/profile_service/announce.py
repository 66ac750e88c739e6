"""Announce every saved profile again on ``profile.profiles``: ``profile-announce-profiles``.

For a consumer (the registration and lottery relays) that missed events older than the streams'
retention (``STREAM_RETENTION_SECONDS``): it logs ``consumer group ... missed events`` naming
this command. Each complete profile is staged as ``profile.profile.completed.v1``, each
incomplete one as ``profile.profile.reopened.v1``; consumers upsert, so it is safe at any time
and twice. Reads ``DATABASE_URL`` and ``GRADE_ROLLOVER``; the relay publishes what it stages.
"""

from __future__ import annotations

from datetime import UTC, datetime

from profile_service.adapters.db import make_session_factory
from profile_service.domain.grades import Rollover
from profile_service.settings import ProfileSettings
from profile_service.use_cases.profiles import GradeClock, announce_profiles


def main() -> None:
    settings = ProfileSettings()
    clock = GradeClock(Rollover.parse(settings.grade_rollover), datetime.now(UTC).date())
    engine, sessions = make_session_factory(settings.database_url)
    with sessions() as session, session.begin():
        completed, reopened = announce_profiles(session, clock)
    engine.dispose()
    print(
        f"staged {completed} complete and {reopened} incomplete profiles again; "
        "the relay publishes them"
    )


if __name__ == "__main__":
    main()
