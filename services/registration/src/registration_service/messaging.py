"""Doorbells: the messages that make a partition's worker drain its queued requests.

A request is stored (``status='queued'``, with its ``decision_partition``) before its 202; the
message that follows carries no request, only "partition p has work". A partition gets a new
doorbell only when none is pending: the web sets ``registration.doorbell.<p>`` with NX and sends
only if it set it, and the drainer deletes the key before it reads the queue, so a request stored
after that read rings again. Both the web process and the sweeper ring through here; neither
imports the worker's modules.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable

import redis
from celery import Celery
from servicekit.celery_defaults import celery_config

from registration_service.settings import RegistrationSettings

log = logging.getLogger(__name__)

# One request per message, as web processes before doorbells sent them: still consumed during a
# rolling upgrade (it drains the request's partition). Remove once no such web process runs.
DECIDE_TASK = "registration.decide_request"
DRAIN_TASK = "registration.drain_partition"


def make_celery(settings: RegistrationSettings) -> Celery:
    app = Celery("registration")
    app.conf.update(celery_config(settings.redis_url, settings.celery_visibility_timeout))
    app.conf.broker_transport_options |= {"socket_timeout": 5, "socket_connect_timeout": 5}
    return app


def decision_queue(partition: int) -> str:
    return f"registration.decide.{partition}"


def doorbell_key(partition: int) -> str:
    return f"registration.doorbell.{partition}"


class Doorbells:
    """Rings partitions: at most one pending doorbell per partition, whoever rings."""

    def __init__(self, celery: Celery, client: redis.Redis, settings: RegistrationSettings) -> None:
        self.celery = celery
        self.redis = client
        # A doorbell lost with the broker must not silence its partition for long: the key
        # expires and the next request rings again (the sweeper covers a quiet partition).
        self.pending_ttl = max(1, int(settings.requeue_after_seconds))

    def ring(self, partitions: Iterable[int]) -> bool:
        """Ring each partition that has no doorbell pending; False (logged) when the broker is
        unreachable: the requests are stored, and the sweeper rings for them."""
        wanted = sorted(set(partitions))
        if not wanted:
            return True
        try:
            pipe = self.redis.pipeline(transaction=False)
            for partition in wanted:
                pipe.set(doorbell_key(partition), 1, nx=True, ex=self.pending_ttl)
            fresh = [p for p, was_set in zip(wanted, pipe.execute(), strict=True) if was_set]
        except redis.RedisError:
            log.warning("could not ring partitions %s; the sweeper will", wanted, exc_info=True)
            return False
        rang = True
        for partition in fresh:
            try:
                self._send(partition)
            except Exception:  # any broker failure: the sweeper owns the retry
                log.warning("could not ring partition %s", partition, exc_info=True)
                with contextlib.suppress(redis.RedisError):  # let the next request ring
                    self.redis.delete(doorbell_key(partition))
                rang = False
        return rang

    def ring_anyway(self, partition: int) -> None:
        """The sweeper's ring: a pending key may belong to a doorbell the broker lost."""
        self.redis.set(doorbell_key(partition), 1, ex=self.pending_ttl)
        self._send(partition)

    def answer(self, partition: int) -> None:
        """The drainer's first step: a request stored from now on rings again."""
        self.redis.delete(doorbell_key(partition))

    def _send(self, partition: int) -> None:
        self.celery.send_task(
            DRAIN_TASK, args=[partition], queue=decision_queue(partition), retry=False
        )
