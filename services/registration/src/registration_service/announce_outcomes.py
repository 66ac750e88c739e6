"""Announce decided requests' outcomes again on ``registration.outcomes``:
``registration-announce-outcomes --since 2026-12-01T00:00:00Z [--lottery-only]``.

For a consumer of the shared outcome stream (the lottery's relay, which records what registration
decided for a committed run) that was stopped longer than the streams' retention
(``STREAM_RETENTION_SECONDS``) and logged ``consumer group lottery of stream
registration.outcomes missed events``. Give ``--since`` a moment before it stopped. Only the
shared stream gets them, never the students' own streams, so no page sees an outcome twice.
``--lottery-only`` stages only the requests a lottery run placed (what a run still
``committing`` waits for); without it students' ``Priority/N`` choices are sent again too, which
the lottery applies again in order. Reads ``DATABASE_URL``; the relay publishes what it stages.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

from registration_service.adapters.db import make_session_factory
from registration_service.settings import RegistrationSettings
from registration_service.use_cases.outcome_history import announce_outcomes


def _moment(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="registration-announce-outcomes", description=__doc__)
    parser.add_argument(
        "--since", type=_moment, required=True, help="ISO 8601; a zone-less time is UTC"
    )
    parser.add_argument("--lottery-only", action="store_true")
    args = parser.parse_args(argv)
    engine, sessions = make_session_factory(RegistrationSettings().database_url)
    with sessions() as session, session.begin():
        count = announce_outcomes(session, args.since, lottery_only=args.lottery_only)
    engine.dispose()
    since = args.since.isoformat()
    print(f"staged {count} outcomes decided since {since} again; the relay publishes them")


if __name__ == "__main__":
    main()
