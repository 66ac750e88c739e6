"""The shape of every service's background process: a loop of small cycles (relay the outbox,
apply other services' events, ...) that runs until SIGTERM and survives outages."""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from servicekit.event_contracts import EventSpec
from servicekit.events import Event, StreamConsumer

log = logging.getLogger(__name__)

Cycle = Callable[[], int]


def run_forever(cycles: list[Cycle], idle_sleep: float = 0.1, failure_sleep: float = 1.0) -> None:
    """Run the cycles in turn until SIGTERM or SIGINT; each returns how much work it did.

    When a round did nothing the loop sleeps ``idle_sleep``. A failing cycle (Redis or the
    database down) is logged and retried after ``failure_sleep``; the process never exits on it.
    """
    running = True

    def stop(*_: object) -> None:
        nonlocal running
        running = False

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while running:
        done = 0
        for cycle in cycles:
            try:
                done += cycle()
            except Exception:  # an outage: keep trying, never exit
                log.warning("%s failed; retrying", getattr(cycle, "__name__", cycle), exc_info=True)
                time.sleep(failure_sleep)
        if not done:
            time.sleep(idle_sleep)


def every(seconds: float, cycle: Cycle) -> Cycle:
    """``cycle`` at most once per ``seconds`` (a sweep), as its own cycle of
    :func:`run_forever`: its failure is logged and retried without holding up the others."""
    next_run = 0.0

    def throttled() -> int:
        nonlocal next_run
        if time.monotonic() < next_run:
            return 0
        next_run = time.monotonic() + seconds
        return cycle()

    throttled.__name__ = getattr(cycle, "__name__", "cycle")
    return throttled


def apply_events(
    consumer: StreamConsumer,
    sessions: sessionmaker[Session],
    handle: Callable[[Session, Event], bool],
    count: int = 100,
) -> int:
    """Apply up to ``count`` events, each in its own transaction and acknowledged after its
    commit; returns how many changed something (``handle`` is False for ignored events)."""
    applied = 0

    def in_transaction(event: Event) -> None:
        nonlocal applied
        with sessions() as session, session.begin():
            applied += bool(handle(session, event))

    consumer.poll(in_transaction, count=count, block_ms=None)
    return applied


def apply_event_batches(
    consumer: StreamConsumer,
    sessions: sessionmaker[Session],
    handle: Callable[[Session, list[Event]], int],
    count: int = 500,
) -> int:
    """Apply up to ``count`` events in one transaction, acknowledged after its commit; for
    high-volume streams whose handler is idempotent (a redelivered batch changes nothing)."""
    applied = 0

    def in_transaction(batch: list[Event]) -> None:
        nonlocal applied
        with sessions() as session, session.begin():
            applied += handle(session, batch)

    consumer.poll_batch(in_transaction, count=count)
    return applied


def apply_once(session: Session, model: type[DeclarativeBase], event_id: str) -> bool:
    """Claim ``event_id`` in the caller's transaction (a row of ``model``, keyed by
    ``event_id``); False when it was applied before. Delivery is at least once; this makes
    applying exactly once."""
    if session.get(model, event_id) is not None:
        return False
    try:
        with session.begin_nested():
            session.add(model(event_id=event_id))
    except IntegrityError:  # a concurrent consumer applied it first
        return False
    return True


def read_unapplied(
    session: Session,
    readers: Mapping[str, EventSpec],
    model: type[DeclarativeBase],
    event: Event,
) -> tuple[EventSpec, dict[str, Any]] | None:
    """The event's spec and the fields this service reads of it, claimed for the caller's
    transaction (see :func:`apply_once`); None for other event types and for duplicates.

    A payload without a field we read raises (ValidationError) before anything is claimed: its
    stream entry stays pending, never half applied.
    """
    spec = readers.get(event.event_type)
    if spec is None:
        return None
    payload = spec.read(event.payload)
    if not apply_once(session, model, event.event_id):
        return None
    return spec, payload
