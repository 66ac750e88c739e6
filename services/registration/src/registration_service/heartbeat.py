"""Decision workers' heartbeats in Redis, so ``/readyz`` can tell that someone decides requests.

Each worker process refreshes its own key, ``registration.worker.heartbeat.<node>``, every
``INTERVAL`` seconds with a time-to-live of ``TTL``: Redis expires the key of a worker that died
(even by ``kill -9``), with no clock shared between hosts. The web side only reads them.
"""

from __future__ import annotations

import contextlib
import threading
import time

from redis import Redis

PREFIX = "registration.worker.heartbeat."
INTERVAL_SECONDS = 5.0
TTL_SECONDS = 15


def beat(redis: Redis, node: str) -> None:
    redis.set(PREFIX + node, "alive", ex=TTL_SECONDS)


def start_beating(redis: Redis, node: str) -> threading.Thread:
    """A daemon thread: it stops with the process, so a dead worker's key simply expires."""

    def run() -> None:
        while True:
            with contextlib.suppress(Exception):  # Redis away a moment: the next beat retries
                beat(redis, node)
            time.sleep(INTERVAL_SECONDS)

    thread = threading.Thread(target=run, name="decision-heartbeat", daemon=True)
    thread.start()
    return thread


def a_worker_is_alive(redis: Redis) -> bool:
    """Whether at least one decision worker's heartbeat key has not expired yet."""
    return any(True for _ in redis.scan_iter(match=PREFIX + "*", count=1000))
