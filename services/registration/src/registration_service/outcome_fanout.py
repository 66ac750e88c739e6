"""Live outcomes for every open page of one web process, on two Redis connections.

An open outcome stream (a student's page) does not read Redis itself. Each web process holds one
:class:`OutcomeFanout` with two threads (greenlets under gunicorn's gevent worker, which patches
``threading`` and ``queue``), each on one Redis connection of its own:

- the **listener** blocks on the shared ``registration.outcomes`` stream and learns which
  students just got an outcome; only those with a page open in this process are marked due;
- the **fetcher** reads each due student's own stream (``registration.outcomes.student.<id>``)
  from the oldest position its pages hold, all students in one pipelined round trip, and puts
  each entry on the queue of each page that has not had it yet.

A page is a :class:`Subscription` with a cursor (the last stream id it was given). It subscribes
before anything is read for it, and every delivery (its replay from ``Last-Event-ID`` as much as
the live ones) goes through that cursor, so a page that connects while its outcome is being
published gets it exactly once: no gap, no duplicate. Each event's SSE ``id`` is its id in the
student's stream, so a reconnect resumes exactly.

The fetcher never waits on a page: a page's queue holds at most ``max_behind`` events, and a page
that falls that far behind (a slow or dead client) is closed; its browser resumes by
``Last-Event-ID``. The student's stream may be written a moment after the shared one (two relays,
or one pipeline split across batches): an event announced but not yet in the student's stream
keeps its student due until it arrives (or ``ANNOUNCED_PATIENCE`` passes).
"""

from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import redis
from servicekit.events import ENVELOPE_FIELD

from registration_service.events import OUTCOMES_STREAM, student_stream
from registration_service.metrics import LIVE_DELIVERIES, LIVE_STREAMS_DROPPED, LIVE_STREAMS_OPEN

log = logging.getLogger(__name__)

FETCH_COUNT = 200  # entries read per student per round; more makes the student due again
PIPELINE_STUDENTS = 500  # students read per round trip
ANNOUNCED_PATIENCE = 10.0  # seconds to wait for an announced event in the student's stream
LISTEN_BLOCK_MS = 5_000


@dataclass(eq=False)
class Subscription:
    """One open page: what it was given last, and what waits to be written to it."""

    student_id: int
    cursor: str  # the last stream id given to this page ("0": none yet)
    queue: queue.Queue[str] = field(repr=False)
    lagged: bool = False  # fell ``max_behind`` events behind: the page is closed

    def chunks(self, heartbeat_seconds: float) -> Iterator[str | None]:
        """What to write next: events (several at once when they queued up), or None when
        ``heartbeat_seconds`` passed with nothing (write a comment line then)."""
        while not self.lagged:
            try:
                first = self.queue.get(timeout=heartbeat_seconds)
            except queue.Empty:
                yield None
                continue
            more = [first]
            while len(more) < 100:
                try:
                    more.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            yield "".join(more)


class OutcomeFanout:
    """See the module. Start it after the process forks (the first page starts it)."""

    def __init__(self, redis_url: str, *, max_behind: int = 1_000) -> None:
        self.max_behind = max_behind
        # Named, so an operator's CLIENT LIST shows which connections serve the pages.
        self.client_name = f"outcome-fanout-{os.getpid()}-{id(self):x}"
        listen_timeout = LISTEN_BLOCK_MS / 1000 + 10
        self._listen = _single_connection(redis_url, self.client_name, listen_timeout)
        self._fetch = _single_connection(redis_url, self.client_name, 10)
        self._pages: dict[int, set[Subscription]] = defaultdict(set)
        self._due: set[int] = set()
        self._announced: dict[int, dict[str, float]] = {}  # student -> event id -> when
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._started = False

    # --- pages ---------------------------------------------------------------------------
    def subscribe(self, student_id: int, last_event_id: str) -> Subscription:
        """A page opens: it is given everything after ``last_event_id``, then each new event."""
        self._start()
        page = Subscription(student_id, last_event_id, queue.Queue(maxsize=self.max_behind))
        with self._lock:
            self._pages[student_id].add(page)
            self._due.add(student_id)
        LIVE_STREAMS_OPEN.inc()
        self._wake.set()
        return page

    def unsubscribe(self, page: Subscription) -> None:
        with self._lock:
            pages = self._pages.get(page.student_id)
            if pages is not None:
                pages.discard(page)
                if not pages:
                    del self._pages[page.student_id]
                    self._announced.pop(page.student_id, None)
        LIVE_STREAMS_OPEN.dec()

    def open_pages(self) -> int:
        with self._lock:
            return sum(len(pages) for pages in self._pages.values())

    # --- the two loops ---------------------------------------------------------------------
    def _start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
        for target, name in (
            (self._listen_loop, "outcomes-listener"),
            (self._fetch_loop, "outcomes-fetcher"),
        ):
            threading.Thread(target=target, name=name, daemon=True).start()

    def _listen_loop(self) -> None:
        last = "$"  # only what is published from now on: a page's past is its own replay
        while True:
            try:
                found = self._listen.xread(
                    {OUTCOMES_STREAM: last}, count=1_000, block=LISTEN_BLOCK_MS
                )
            except redis.RedisError:
                log.warning(
                    "outcome listener lost Redis; every open page is read again once it is back"
                )
                time.sleep(1.0)
                self._all_due()  # whatever was published meanwhile
                continue
            if not found:
                continue
            entries = found[0][1]
            last = _text(entries[-1][0])
            self._announce(_announced(entries))

    def _announce(self, events: Iterable[tuple[int, str]]) -> None:
        now = time.monotonic()
        with self._lock:
            for student_id, event_id in events:
                if student_id in self._pages:
                    self._due.add(student_id)
                    self._announced.setdefault(student_id, {})[event_id] = now
        self._wake.set()

    def _all_due(self) -> None:
        with self._lock:
            self._due.update(self._pages)
        self._wake.set()

    def _fetch_loop(self) -> None:
        while True:
            self._wake.wait(timeout=1.0)
            self._wake.clear()
            with self._lock:
                due, self._due = self._due, set()
            if not due:
                continue
            try:
                again = self._deliver(sorted(due))
            except redis.RedisError:
                log.warning("outcome fetcher lost Redis; retrying", exc_info=True)
                time.sleep(1.0)
                again = due
            if again:  # more entries, or an announced one not in its student's stream yet
                with self._lock:
                    self._due.update(again)
                time.sleep(0.02)
                self._wake.set()

    def _deliver(self, students: list[int]) -> set[int]:
        """Read the students' streams past their pages' oldest cursor and hand each page what
        it has not had; the students to read again (more entries, or announced ones missing)."""
        again: set[int] = set()
        for start in range(0, len(students), PIPELINE_STUDENTS):
            chunk = students[start : start + PIPELINE_STUDENTS]
            with self._lock:
                cursors = {
                    s: min((p.cursor for p in self._pages.get(s, ())), key=_order, default=None)
                    for s in chunk
                }
            wanted = [(s, c) for s, c in cursors.items() if c is not None]
            pipeline = self._fetch.pipeline(transaction=False)
            for student_id, cursor in wanted:
                pipeline.xrange(student_stream(student_id), min=_after(cursor), count=FETCH_COUNT)
            for (student_id, _), entries in zip(wanted, pipeline.execute(), strict=True):
                if self._hand_out(student_id, entries) or len(entries) == FETCH_COUNT:
                    again.add(student_id)
        return again

    def _hand_out(self, student_id: int, entries: list[Any]) -> bool:
        """Queue the entries for each page of the student past its cursor; True while an
        announced event is still missing from the student's stream."""
        events = [_event(_text(entry_id), fields) for entry_id, fields in entries]
        with self._lock:
            pages = list(self._pages.get(student_id, ()))
            announced = self._announced.get(student_id, {})
            for _, event_id, _ in events:
                announced.pop(event_id, None)
            now = time.monotonic()
            for event_id, since in list(announced.items()):
                if now - since > ANNOUNCED_PATIENCE:
                    log.warning(
                        "outcome %s never reached student %s's stream", event_id, student_id
                    )
                    del announced[event_id]
            if not announced:
                self._announced.pop(student_id, None)
        for page in pages:
            for entry_id, _, chunk in events:
                if _order(entry_id) <= _order(page.cursor):
                    continue
                try:
                    page.queue.put_nowait(chunk)
                except queue.Full:
                    page.lagged = True  # its writer closes it; the browser resumes
                    LIVE_STREAMS_DROPPED.inc()
                    break
                page.cursor = entry_id
                LIVE_DELIVERIES.inc()
        return bool(announced)


def _single_connection(url: str, name: str, socket_timeout: float) -> redis.Redis:
    pool = redis.BlockingConnectionPool.from_url(
        url,
        max_connections=1,
        timeout=30,
        socket_timeout=socket_timeout,
        socket_connect_timeout=5,
        client_name=name,
    )
    return redis.Redis(connection_pool=pool)


def _announced(entries: list[Any]) -> Iterator[tuple[int, str]]:
    """(student, event id) of each outcome on the shared stream."""
    for _, fields in entries:
        raw = fields.get(ENVELOPE_FIELD.encode()) or fields.get(ENVELOPE_FIELD)
        if not raw:
            continue
        envelope = json.loads(raw)
        student = envelope.get("payload", {}).get("student_id")
        if isinstance(student, int):
            yield student, envelope["event_id"]


def _event(entry_id: str, fields: dict[Any, Any]) -> tuple[str, str, str]:
    """(stream id, event id, the entry as one Server-Sent Event): written once, to every page
    of the student. Its data is the payload with ``event_type`` and ``correlation_id``."""
    raw = fields.get(ENVELOPE_FIELD.encode()) or fields.get(ENVELOPE_FIELD)
    envelope = json.loads(raw)
    data = envelope["payload"] | {
        "event_type": envelope["event_type"],
        "correlation_id": envelope.get("correlation_id"),
    }
    return (
        entry_id,
        envelope["event_id"],
        f"id: {entry_id}\nevent: outcome\ndata: {json.dumps(data)}\n\n",
    )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _order(entry_id: str) -> tuple[int, int]:
    milliseconds, _, sequence = entry_id.partition("-")
    return int(milliseconds), int(sequence or 0)


def _after(entry_id: str) -> str:
    """XRANGE's exclusive start (Redis 6.2+): everything after ``entry_id``."""
    return "-" if entry_id == "0" else f"({entry_id}"
