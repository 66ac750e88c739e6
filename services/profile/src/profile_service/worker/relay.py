"""The profile service's background process: publishes the outbox (profile events) and learns
program ids from the registration service's catalog events.

Run one per deployment: ``python -m profile_service.worker.relay``.
"""

from __future__ import annotations

import socket

import redis
from servicekit.background import apply_events, every, run_forever
from servicekit.events import StreamConsumer, StreamPublisher
from servicekit.logging_setup import configure_logging
from servicekit.metrics import serve_metrics_if_asked
from servicekit.outbox import OutboxRelay

from profile_service.adapters.db import make_session_factory
from profile_service.adapters.models import outbox
from profile_service.events import CATALOG_STREAM
from profile_service.settings import get_settings
from profile_service.use_cases.programs import handle_catalog_event

CONSUMER_GROUP = "profile"
# What stages the catalog again when this relay missed some of it (older than the retention).
CATALOG_REPLAY = "run registration-announce-programs in the registration service"


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level, "profile-relay")
    serve_metrics_if_asked("profile-relay")
    engine, sessions = make_session_factory(settings.database_url)
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=10)
    publisher = StreamPublisher(client, retention_seconds=settings.stream_retention_seconds)
    catalog = StreamConsumer(
        client, CATALOG_STREAM, CONSUMER_GROUP, socket.gethostname(), replay_hint=CATALOG_REPLAY
    )

    relay = OutboxRelay(engine, outbox, publisher)

    def publish_profile_events() -> int:
        return relay.publish()

    def republish_what_redis_lost() -> int:
        return relay.recover()

    def learn_programs() -> int:
        return apply_events(catalog, sessions, handle_catalog_event)

    run_forever([publish_profile_events, every(1.0, republish_what_redis_lost), learn_programs])


if __name__ == "__main__":
    main()
