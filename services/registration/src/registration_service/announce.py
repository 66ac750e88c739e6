"""Announce the whole catalog (every program with its timeslots and classes) on the catalog
stream again: ``registration-announce-programs``. Run it once after deploying a new subscriber
(the lottery service) so it learns the catalog that already exists.

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
    print(f"staged the catalog of {count} programs again; the relay publishes it")


if __name__ == "__main__":
    main()
