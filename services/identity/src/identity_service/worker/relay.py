"""The identity service's background process: publishes the outbox (account events) to Redis,
and again what a Redis crash lost. ``python -m identity_service.worker.relay``."""

from __future__ import annotations

import redis
from servicekit.background import every, run_forever
from servicekit.events import StreamPublisher
from servicekit.logging_setup import configure_logging
from servicekit.metrics import serve_metrics_if_asked
from servicekit.outbox import OutboxRelay

from identity_service.adapters.db import make_session_factory
from identity_service.adapters.models import outbox
from identity_service.settings import get_settings


def main() -> None:
    settings = get_settings()
    configure_logging(settings.log_level, "identity-relay")
    serve_metrics_if_asked("identity-relay")
    engine, _ = make_session_factory(settings.database_url)
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=10)
    publisher = StreamPublisher(client, retention_seconds=settings.stream_retention_seconds)
    relay = OutboxRelay(engine, outbox, publisher)

    def publish_account_events() -> int:
        return relay.publish()

    def republish_what_redis_lost() -> int:
        return relay.recover()

    run_forever([publish_account_events, every(1.0, republish_what_redis_lost)])


if __name__ == "__main__":
    main()
