"""Announce every program on the catalog stream again: ``registration-announce-programs``.

Reads ``DATABASE_URL``; the relay publishes what this stages. Safe to run at any time.
"""

from __future__ import annotations

from registration_service.adapters.db import make_session_factory
from registration_service.settings import RegistrationSettings
from registration_service.use_cases.catalog import announce_programs


def main() -> None:
    engine, sessions = make_session_factory(RegistrationSettings().database_url)
    with sessions() as session, session.begin():
        count = announce_programs(session)
    engine.dispose()
    print(f"staged {count} program announcements; the relay publishes them")


if __name__ == "__main__":
    main()
