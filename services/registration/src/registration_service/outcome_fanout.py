"""Live outcomes for every open page of one web process, on two Redis connections.

An open outcome stream (a student's page) does not read Redis itself. Each web process holds one
:class:`OutcomeFanout` with two threads (greenlets under gunicorn's gevent worker, which patches
``threading`` and ``queue``), each on one Redis connection of its own:

- the **listener** blocks on the shared ``registration.outcomes`` stream and learns which
  students just got an outcome; only those with a page open in this process are marked due (the
  relay writes an outcome to the student's stream before the shared one, so the student's
  stream holds whatever the listener hears of);
- the **fetcher** reads each due student's own stream (``registration.outcomes.student.<id>``)
  from the oldest position its pages hold, all students in one pipelined round trip, and puts
  each entry in the mailbox of each page that has not had it yet.

A page is a :class:`Subscription` with a cursor (the last stream id it was given). It subscribes
before anything is read for it, and every delivery (its replay from ``Last-Event-ID`` as much as
the live ones) goes through that cursor, so a page that connects while its outcome is being
published gets it exactly once: no gap, no duplicate. Each event's SSE ``id`` is its id in the
student's stream, so a reconnect resumes exactly.

The fetcher never waits on a page: a page's mailbox holds at most ``max_behind`` events, and a page
that falls that far behind (a slow or dead client) is closed; its browser resumes by
``Last-Event-ID``. Should an event be announced before it is in the student's stream (an older
relay wrote the shared stream first), it keeps its student due until it arrives (or
``ANNOUNCED_PATIENCE`` passes).

Redis keeps a student's stream for ``STREAM_RETENTION_SECONDS`` (older entries are trimmed, a
quiet stream expires). A page that resumes from further back (its ``Last-Event-ID`` is older than
the stream's first entry, or the stream is gone) is first given, through the same cursor, what
``replay`` finds in the database: the student's outcomes decided from the cursor's millisecond
until the stream's first entry, in order, each with an id made of its decision's millisecond
(``<ms>-<n>``, so it sorts before the stream's entries and a reconnect resumes from it). Then it
joins the stream. An outcome given from the database that the stream also holds (the first
entries are decided just before they are published) is not given again: the page remembers what
it was given by what it is (a request's id, a promotion's section and moment), not by stream id.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import os
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import redis
from servicekit.events import ENVELOPE_FIELD

from registration_service.events import OUTCOMES_STREAM, student_stream
from registration_service.metrics import (
    LIVE_DELIVERIES,
    LIVE_REPLAYED,
    LIVE_STREAMS_DROPPED,
    LIVE_STREAMS_OPEN,
)

log = logging.getLogger(__name__)

FETCH_COUNT = 200  # entries read per student per round; more makes the student due again
PIPELINE_STUDENTS = 500  # students read per round trip
RECENTLY_READ = 64  # event ids remembered per student with a page open
ANNOUNCED_PATIENCE = 10.0  # seconds to wait for an announced event in the student's stream
LISTEN_BLOCK_MS = 5_000
CLOCK_SECONDS = 1.0  # the heartbeat clock's period (a heartbeat comes up to this much early)
# An outcome staged this long after its decision was announced again, not decided now.
REANNOUNCED_AFTER_MS = 600_000

# (student, from ms inclusive, until ms exclusive or None) -> the student's outcomes decided
# then, in order, each the data of its SSE event (payload, event_type, correlation_id).
Replay = Callable[[int, int, int | None], list[dict[str, Any]]]
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(eq=False)
class Subscription:
    """One open page: what it was given last, and what waits to be written to it.

    The mailbox is a deque and an event rather than a ``queue.Queue``: under gevent a Queue's
    condition allocates a lock per wait, and ten thousand pages made it a visible share of the
    fan-out's CPU. For the same reason a page's writer waits without a timeout: the fan-out's
    clock (one thread per process) tells it when a heartbeat is due, instead of ten thousand
    timers, each made, cancelled or fired (by an exception) on every wait."""

    student_id: int
    cursor: str  # the last stream id given to this page ("0": none yet)
    max_behind: int = 1_000
    lagged: bool = False  # fell ``max_behind`` events behind: the page is closed
    closed: bool = False  # unsubscribed: the clock forgets it
    # False until the fetcher has given it what the database holds from before the stream
    # (see the module); the stream waits until then.
    checked: bool = True
    replayed: set[str] = field(default_factory=set, repr=False)  # what, not stream ids
    heartbeat_seconds: float | None = None  # set by the writer (:meth:`chunks`)
    last_write: float = field(default_factory=time.monotonic)
    heartbeat_due: bool = False  # set by the fan-out's clock
    _mailbox: deque[str] = field(default_factory=deque, repr=False)
    _ready: threading.Event = field(default_factory=threading.Event, repr=False)

    def tick(self, now: float, early: float) -> bool:
        """The clock's call: wake the writer for a heartbeat when nothing was written for
        ``heartbeat_seconds`` less ``early`` (the clock's period: never later than due); True
        when it did."""
        every = self.heartbeat_seconds
        if every is not None and not self.heartbeat_due and now - self.last_write >= every - early:
            self.heartbeat_due = True
            self._ready.set()
            return True
        return False

    def give(self, chunk: str) -> bool:
        """Leave one event for the page's writer; False when the page is ``max_behind`` events
        behind: it is closed then (its writer stops, its browser resumes by Last-Event-ID)."""
        if self.lagged:
            return False
        if len(self._mailbox) >= self.max_behind:
            self.lagged = True
            self._ready.set()
            LIVE_STREAMS_DROPPED.inc()
            return False
        self._mailbox.append(chunk)
        self._ready.set()
        return True

    def chunks(self, heartbeat_seconds: float) -> Iterator[str | None]:
        """What to write next: events (several at once when they queued up), or None when
        ``heartbeat_seconds`` passed with nothing (write a comment line then)."""
        self.heartbeat_seconds = heartbeat_seconds
        while not self.lagged:
            self._ready.wait()
            self._ready.clear()  # before taking: a give from now on wakes the next wait
            taken: list[str] = []
            while self._mailbox and len(taken) < 100:
                taken.append(self._mailbox.popleft())
            if self._mailbox:
                self._ready.set()
            if self.lagged:
                return
            if taken:
                self.last_write, self.heartbeat_due = time.monotonic(), False
                yield "".join(taken)
            elif self.heartbeat_due:
                self.last_write, self.heartbeat_due = time.monotonic(), False
                yield None


class OutcomeFanout:
    """See the module. Start it after the process forks (the first page starts it)."""

    def __init__(
        self, redis_url: str, *, max_behind: int = 1_000, replay: Replay | None = None
    ) -> None:
        self.max_behind = max_behind
        self._replay = replay
        # Named, so an operator's CLIENT LIST shows which connections serve the pages.
        self.client_name = f"outcome-fanout-{os.getpid()}-{id(self):x}"
        listen_timeout = LISTEN_BLOCK_MS / 1000 + 10
        self._listen = _single_connection(redis_url, self.client_name, listen_timeout)
        self._fetch = _single_connection(redis_url, self.client_name, 10)
        self._pages: dict[int, set[Subscription]] = defaultdict(set)
        self._fresh: list[Subscription] = []  # opened since the clock last looked
        self._due: set[int] = set()
        self._announced: dict[int, dict[str, float]] = {}  # student -> event id -> when
        # student -> the event ids last read from their stream: an announcement that comes after
        # the fetcher already read its event (the student's stream is written first) is no news.
        self._read: dict[int, deque[str]] = {}
        self._retry: set[int] = set()  # students whose database replay failed, and when next
        self._retry_at = 0.0
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._listening = threading.Event()
        self._started = False
        self._stopped = threading.Event()

    # --- pages ---------------------------------------------------------------------------
    def subscribe(self, student_id: int, last_event_id: str) -> Subscription:
        """A page opens: it is given everything after ``last_event_id``, then each new event."""
        self._start()
        page = Subscription(student_id, last_event_id, self.max_behind)
        page.checked = self._replay is None or last_event_id == "0"
        with self._lock:
            self._pages[student_id].add(page)
            self._due.add(student_id)
            self._fresh.append(page)
        LIVE_STREAMS_OPEN.inc()
        self._wake.set()
        return page

    def unsubscribe(self, page: Subscription) -> None:
        page.closed = True
        with self._lock:
            pages = self._pages.get(page.student_id)
            if pages is not None:
                pages.discard(page)
                if not pages:
                    del self._pages[page.student_id]
                    self._announced.pop(page.student_id, None)
                    self._read.pop(page.student_id, None)
        LIVE_STREAMS_OPEN.dec()

    def open_pages(self) -> int:
        with self._lock:
            return sum(len(pages) for pages in self._pages.values())

    def stop(self) -> None:
        """Its threads end within a second or so (a process that keeps running after its app,
        e.g. a test session, is not left with loops retrying a Redis that is gone)."""
        self._stopped.set()
        self._wake.set()
        self._listening.set()

    # --- the two loops ---------------------------------------------------------------------
    def _start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
        for target, name in (
            (self._listen_loop, "outcomes-listener"),
            (self._fetch_loop, "outcomes-fetcher"),
            (self._clock_loop, "outcomes-heartbeats"),
        ):
            threading.Thread(target=target, name=name, daemon=True).start()

    def _clock_loop(self) -> None:
        """Heartbeats for every page of the process, each page woken when its own is due. The
        pages wait in a heap by when they are next due, so a tick costs the pages due then,
        not every open page (ten thousand method calls a second, idle). It ticks every
        second, or a quarter of the shortest heartbeat seen; it needs no Redis."""
        due: list[tuple[float, int, Subscription]] = []
        order = itertools.count()  # ties in time: never compare two pages
        shortest = 4 * CLOCK_SECONDS
        while not self._stopped.is_set():
            now = time.monotonic()
            period = min(CLOCK_SECONDS, shortest / 4)
            with self._lock:
                fresh, self._fresh = self._fresh, []
            for page in fresh:
                heapq.heappush(due, (now, next(order), page))
            while due and due[0][0] <= now:
                page = heapq.heappop(due)[2]
                if page.closed:
                    continue
                every = page.heartbeat_seconds
                if every is None:  # its writer has not started yet
                    heapq.heappush(due, (now + period, next(order), page))
                    continue
                if every < shortest:
                    shortest = every
                    period = min(CLOCK_SECONDS, shortest / 4)
                woken = page.tick(now, period)
                # Next look: a heartbeat after the one just asked for, or when this one is due.
                after = now if woken else page.last_write
                heapq.heappush(due, (max(after + every - period, now + period), next(order), page))
            self._stopped.wait(period)

    def _listen_loop(self) -> None:
        # Only what is published from now on (a page's past is its own read), from a position
        # taken before the fetcher reads anything: an outcome published after a page's first
        # read is then always announced ("$" on the first XREAD left a gap until it was sent).
        last = self._position()
        self._listening.set()
        while not self._stopped.is_set():
            try:
                found = self._listen.xread(
                    {OUTCOMES_STREAM: last}, count=1_000, block=LISTEN_BLOCK_MS
                )
            except redis.RedisError:
                log.warning(
                    "outcome listener lost Redis; every open page is read again once it is back"
                )
                self._stopped.wait(1.0)
                self._all_due()  # whatever was published meanwhile
                continue
            if not found:
                continue
            entries = found[0][1]
            last = _text(entries[-1][0])
            self._announce(_announced(entries))

    def _position(self) -> str:
        """The shared stream's newest id (``0-0`` when empty), retried until Redis answers."""
        while not self._stopped.is_set():
            try:
                newest = self._listen.xrevrange(OUTCOMES_STREAM, count=1)
                return _text(newest[0][0]) if newest else "0-0"
            except redis.RedisError:
                log.warning("outcome listener cannot reach Redis; retrying")
                self._stopped.wait(1.0)
        return "0-0"  # stopped

    def _announce(self, events: Iterable[tuple[int, str]]) -> None:
        now = time.monotonic()
        with self._lock:
            for student_id, event_id in events:
                read = self._read.get(student_id)
                if student_id in self._pages and (read is None or event_id not in read):
                    self._due.add(student_id)
                    self._announced.setdefault(student_id, {})[event_id] = now
        self._wake.set()

    def _all_due(self) -> None:
        with self._lock:
            self._due.update(self._pages)
        self._wake.set()

    def _fetch_loop(self) -> None:
        self._listening.wait()  # see _listen_loop
        while not self._stopped.is_set():
            self._wake.wait(timeout=1.0)
            self._wake.clear()
            with self._lock:
                due, self._due = self._due, set()
                if self._retry and time.monotonic() >= self._retry_at:
                    due, self._retry = due | self._retry, set()
            if not due:
                continue
            try:
                again = self._deliver(sorted(due))
            except redis.RedisError as exc:  # one line, not a traceback a second while it is away
                log.warning("outcome fetcher lost Redis (%s); retrying", exc)
                self._stopped.wait(1.0)
                again = due
            if again:  # more entries, or an announced one not in its student's stream yet
                with self._lock:
                    self._due.update(again)
                time.sleep(0.02)
                self._wake.set()

    def _deliver(self, students: list[int]) -> set[int]:
        """Read the students' streams past their pages' oldest cursor and hand each page what
        it has not had; the students to read again (more entries, or announced ones missing).
        A page that resumes from before its stream's first entry gets the database's part
        first (:meth:`_from_database`)."""
        again: set[int] = set()
        for start in range(0, len(students), PIPELINE_STUDENTS):
            chunk = students[start : start + PIPELINE_STUDENTS]
            with self._lock:
                cursors = {
                    s: min((p.cursor for p in self._pages.get(s, ())), key=_order, default=None)
                    for s in chunk
                }
                unchecked = {s: [p for p in self._pages.get(s, ()) if not p.checked] for s in chunk}
            unchecked = {s: pages for s, pages in unchecked.items() if pages}
            wanted = [(s, c) for s, c in cursors.items() if c is not None]
            pipeline = self._fetch.pipeline(transaction=False)
            for student_id, cursor in wanted:
                pipeline.xrange(student_stream(student_id), min=_after(cursor), count=FETCH_COUNT)
            for student_id in unchecked:
                pipeline.xrange(student_stream(student_id), count=1)  # its first entry
            found = pipeline.execute()
            for student_id, first in zip(unchecked, found[len(wanted) :], strict=True):
                first_id = _text(first[0][0]) if first else None
                for page in unchecked[student_id]:
                    if not self._from_database(page, first_id):
                        with self._lock:  # the database is away: again in a second
                            self._retry.add(student_id)
                            self._retry_at = time.monotonic() + 1.0
            for (student_id, _), entries in zip(wanted, found[: len(wanted)], strict=True):
                if self._hand_out(student_id, entries) or len(entries) == FETCH_COUNT:
                    again.add(student_id)
        return again

    def _from_database(self, page: Subscription, first_id: str | None) -> bool:
        """Give a page that resumes from before its stream's first entry (or whose stream is
        gone) the outcomes the stream no longer holds, from the database; False when the
        database could not answer (the page waits, and is tried again a second later)."""
        if self._replay is None or (
            first_id is not None and _order(page.cursor) >= _order(first_id)
        ):
            page.checked = True
            return True
        after_ms = _order(page.cursor)[0]
        before_ms = _order(first_id)[0] if first_id is not None else None
        try:
            history = self._replay(page.student_id, after_ms, before_ms)
        except Exception:
            log.warning(
                "could not read student %s's outcomes from the database; retrying",
                page.student_id,
                exc_info=True,
            )
            return False
        given = 0
        for entry_id, identity, chunk in _history_events(history):
            page.replayed.add(identity)  # the stream's copy, if any, is not given again
            if _order(entry_id) <= _order(page.cursor) or page.lagged:
                continue
            if not page.give(chunk):
                continue
            page.cursor = entry_id
            given += 1
        page.checked = True
        LIVE_REPLAYED.inc(given)
        LIVE_DELIVERIES.inc(given)
        if given:
            log.info(
                "student %s resumed from %s: %d outcomes given from the database",
                page.student_id,
                after_ms,
                given,
            )
        return True

    def _hand_out(self, student_id: int, entries: list[Any]) -> bool:
        """Queue the entries for each page of the student past its cursor; True while an
        announced event is still missing from the student's stream."""
        parsed = [e for entry_id, fields in entries if (e := _event(_text(entry_id), fields))]
        event_ids = [event_id for _, event_id, _, _ in parsed]
        events = [(entry_id, _order(entry_id), chunk, data) for entry_id, _, chunk, data in parsed]
        with self._lock:
            pages = list(self._pages.get(student_id, ()))
            announced = self._announced.get(student_id, {})
            for event_id in event_ids:
                announced.pop(event_id, None)
            if event_ids and student_id in self._pages:
                self._read.setdefault(student_id, deque(maxlen=RECENTLY_READ)).extend(event_ids)
            now = time.monotonic()
            for event_id, since in list(announced.items()):
                if now - since > ANNOUNCED_PATIENCE:
                    log.warning(
                        "outcome %s never reached student %s's stream", event_id, student_id
                    )
                    del announced[event_id]
            if not announced:
                self._announced.pop(student_id, None)
        given = 0
        for page in pages:
            if not page.checked:
                continue  # the database's part comes first
            cursor = _order(page.cursor)
            for entry_id, order, chunk, data in events:
                if order <= cursor:
                    continue
                if page.replayed and _identity(data) in page.replayed:
                    page.cursor = entry_id  # given from the database already
                    continue
                if not page.give(chunk):
                    break  # its writer closes it; the browser resumes
                page.cursor = entry_id
                given += 1
        if given:
            LIVE_DELIVERIES.inc(given)  # once per student: a counter's lock is not free
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
    """(student, event id) of each new outcome on the shared stream. An outcome announced
    again by ``registration-announce-outcomes`` (staged long after its decision) goes to the
    shared stream only: its student has nothing new."""
    for entry_id, fields in entries:
        raw = fields.get(ENVELOPE_FIELD.encode()) or fields.get(ENVELOPE_FIELD)
        try:
            envelope = json.loads(raw)
            payload = envelope.get("payload", {})
            student = payload.get("student_id")
            if isinstance(student, int) and not _announced_again(envelope, payload):
                yield student, envelope["event_id"]
        except (TypeError, ValueError, KeyError, AttributeError):
            log.warning("skipped stream entry %s: not an event envelope", _text(entry_id))


def _announced_again(envelope: dict[str, Any], payload: dict[str, Any]) -> bool:
    staged, decided = envelope.get("occurred_at"), payload.get("decided_at")
    if not isinstance(staged, str) or not isinstance(decided, str):
        return False
    if staged[:15] == decided[:15]:  # the same ten minutes ("YYYY-MM-DDTHH:M"): not parsed
        return False
    return _milliseconds(staged) - _milliseconds(decided) > REANNOUNCED_AFTER_MS


def _event(entry_id: str, fields: dict[Any, Any]) -> tuple[str, str, str, dict[str, Any]] | None:
    """(stream id, event id, the entry as one Server-Sent Event, its data): written once, to
    every page of the student. Its data is the payload with ``event_type`` and
    ``correlation_id``. None (and a warning) for an entry that is not an event envelope: it
    is skipped rather than stopping the fetcher."""
    raw = fields.get(ENVELOPE_FIELD.encode()) or fields.get(ENVELOPE_FIELD)
    try:
        envelope = json.loads(raw)
        data = envelope["payload"] | {
            "event_type": envelope["event_type"],
            "correlation_id": envelope.get("correlation_id"),
        }
        event_id = envelope["event_id"]
    except (TypeError, ValueError, KeyError):
        log.warning("skipped stream entry %s: not an event envelope", entry_id)
        return None
    return entry_id, event_id, _chunk(entry_id, data), data


def _chunk(entry_id: str, data: dict[str, Any]) -> str:
    return f"id: {entry_id}\nevent: outcome\ndata: {json.dumps(data)}\n\n"


def _history_events(history: list[dict[str, Any]]) -> Iterator[tuple[str, str, str]]:
    """(id, identity, chunk) of each outcome from the database, in order. The id is the
    decision's millisecond and its rank within it (``<ms>-<n>``): the same outcomes get the same
    ids every time, so a page closed half way resumes where it stood."""
    previous_ms, rank = -1, 0
    for data in history:
        ms = _milliseconds(data["decided_at"])
        rank = rank + 1 if ms == previous_ms else 0
        previous_ms = ms
        entry_id = f"{ms}-{rank}"
        yield entry_id, _identity(data), _chunk(entry_id, data)


def _identity(data: dict[str, Any]) -> str:
    """What an outcome is, whichever id it came with: a request's outcome by the request's id,
    a promotion by its section and moment (the database's copy has no event id)."""
    if "id" in data:
        return f"request:{data['id']}"
    return f"promotion:{data.get('section_id')}:{_milliseconds(data.get('decided_at'))}"


def _milliseconds(moment: object) -> int:
    if not isinstance(moment, str):
        return 0
    return (datetime.fromisoformat(moment) - EPOCH) // timedelta(milliseconds=1)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _order(entry_id: str) -> tuple[int, int]:
    milliseconds, _, sequence = entry_id.partition("-")
    return int(milliseconds), int(sequence or 0)


def _after(entry_id: str) -> str:
    """XRANGE's exclusive start (Redis 6.2+): everything after ``entry_id``."""
    return "-" if entry_id == "0" else f"({entry_id}"
