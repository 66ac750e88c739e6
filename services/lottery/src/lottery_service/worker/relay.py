"""The lottery service's background process: publishes the outbox (run commits and reverts),
learns the catalog and students' grades from the other services' events, records what
registration decided for committed runs, and sends again the runs whose message was lost.

Run one per deployment: ``python -m lottery_service.worker.relay``.
"""

from __future__ import annotations

import logging
import socket
from datetime import timedelta

from servicekit.background import apply_event_batches, every, run_forever
from servicekit.events import StreamConsumer
from servicekit.logging_setup import configure_logging
from servicekit.metrics import serve_metrics_if_asked
from servicekit.outbox import OutboxRelay

from lottery_service import events
from lottery_service.adapters.models import outbox
from lottery_service.messaging import send_run
from lottery_service.use_cases.commits import apply_outcomes
from lottery_service.use_cases.read_models import handle_events
from lottery_service.use_cases.runs import stale_runs
from lottery_service.worker.resources import resources

log = logging.getLogger(__name__)

CONSUMER_GROUP = "lottery"
# What stages again the events of a stream this relay missed (older than the retention).
REPLAY = {
    events.CATALOG_STREAM: "run registration-announce-programs in the registration service",
    events.PROFILES_STREAM: "run profile-announce-profiles in the profile service",
    events.OUTCOMES_STREAM: "run registration-announce-outcomes --since <when this relay "
    "stopped> in the registration service",
}
# A run still running this long past three times its time limit lost its worker.
RUNNING_GRACE = timedelta(minutes=2)


def resend_stale_runs() -> int:
    res = resources()
    queued_for = timedelta(seconds=res.settings.requeue_after_seconds)
    with res.sessions.begin() as session:
        stale = stale_runs(session, queued_for, RUNNING_GRACE)
    for run_id in stale:
        send_run(res.celery, run_id)
    if stale:
        log.warning("sent lottery runs %s again: their messages were lost", stale)
    return len(stale)


def main() -> None:
    res = resources()
    configure_logging(res.settings.log_level, "lottery-relay")
    serve_metrics_if_asked("lottery-relay")
    name = socket.gethostname()
    catalog, profiles, outcomes = (
        StreamConsumer(res.redis, stream, CONSUMER_GROUP, name, replay_hint=REPLAY[stream])
        for stream in (events.CATALOG_STREAM, events.PROFILES_STREAM, events.OUTCOMES_STREAM)
    )

    relay = OutboxRelay(res.engine, outbox, res.publisher)

    def publish_outbox() -> int:
        return relay.publish()

    def republish_what_redis_lost() -> int:
        return relay.recover()

    # Up to 500 events per transaction: a program's catalog and thousands of completed
    # profiles arrive in a burst. A payload we cannot read keeps its whole batch pending.
    def learn_catalog() -> int:
        return apply_event_batches(catalog, res.sessions, handle_events)

    def learn_grades() -> int:
        return apply_event_batches(profiles, res.sessions, handle_events)

    def record_outcomes() -> int:
        return apply_event_batches(outcomes, res.sessions, apply_outcomes)

    sweep = every(res.settings.sweep_interval_seconds, resend_stale_runs)
    run_forever(
        [
            publish_outbox,
            every(1.0, republish_what_redis_lost),
            learn_catalog,
            learn_grades,
            record_outcomes,
            sweep,
        ]
    )


if __name__ == "__main__":
    main()
