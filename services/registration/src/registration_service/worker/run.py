"""Start one decision worker: ``python -m registration_service.worker.run --index 0 --workers 2``.

Worker ``i`` of ``W`` consumes partition queues ``i, i+W, i+2W, ...`` of ``DECISION_PARTITIONS``,
one doorbell at a time (solo pool, prefetch 1), draining each partition's queued requests in
arrival order while the partitions spread over the processes. Run one process per index: a
second one is safe (a partition has one drainer at a time) but only waits. It logs JSON lines
(:func:`servicekit.logging_setup.configure_logging`), one per decision at INFO.
"""

from __future__ import annotations

import argparse
from typing import Any

from celery.signals import setup_logging
from servicekit.logging_setup import configure_logging
from servicekit.metrics import serve_metrics_if_asked

from registration_service.messaging import decision_queue
from registration_service.settings import get_settings


def queues_for(index: int, workers: int, partitions: int) -> list[str]:
    return [decision_queue(partition) for partition in range(index, partitions, workers)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--index", type=int, required=True)
    parser.add_argument("--workers", type=int, required=True)
    parser.add_argument("--loglevel", default=None, help="default: LOG_LEVEL (INFO)")
    args = parser.parse_args(argv)
    settings = get_settings()
    if not 0 <= args.index < args.workers <= settings.decision_partitions:
        parser.error("need 0 <= index < workers <= DECISION_PARTITIONS")
    loglevel = args.loglevel or settings.log_level

    def json_lines(**_: Any) -> None:  # instead of Celery's own: one JSON object per line
        configure_logging(loglevel, "registration-decider")

    setup_logging.connect(json_lines, weak=False)
    serve_metrics_if_asked("registration-decider")
    from registration_service.worker.celery_app import app

    app.worker_main(
        [
            "worker",
            "--pool",
            "solo",
            "--prefetch-multiplier",
            "1",
            "-Q",
            ",".join(queues_for(args.index, args.workers, settings.decision_partitions)),
            "-n",
            f"decide{args.index}@%h",
            "--without-gossip",
            "--without-mingle",
            "--without-heartbeat",
            "--loglevel",
            loglevel,
        ]
    )


if __name__ == "__main__":
    main()
