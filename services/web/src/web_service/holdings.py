"""Each student's sections in a program, as the catalog shows them: kept in Redis for every web
process and dropped the moment the registration service says they changed.

In the opening minute every student reloads the catalog, and its one read of their own (their
sections) was more than half of the stack's CPU for a page: the registration web's request,
token check and query, and the web's call to it. A student's sections change only by what the
registration service publishes on its outcomes stream (a request decided, a waitlist promotion,
a lottery's assignments), so each web process listens to that stream (one blocking ``XREAD``,
one Redis connection) and, for each student an entry names, moves the student's version and
drops what was kept. What is kept is also dropped after ``seconds`` (a registration's end date
ends it without an event).

Kept in Redis, not in each process: a browser's next page often arrives on another connection
(its open streams hold the first ones), so on another process.

- **A read racing a change is not trusted.** A read notes the student's version (and the
  epoch) before it asks and keeps the answer under that mark; an entry for the student that
  arrives meanwhile moves the version, so the next page finds the mark stale and asks again.
  A version is the id of the newest stream entry naming the student, and only ever moves
  forward: every process's listener sets the same one, whichever is first.
- **Nothing trusted while not listening.** A process whose listener has not taken its place in
  the stream, or lost Redis, asks every time; a listener that (re)starts moves the epoch, which
  makes everything kept before it stale (entries may have been missed meanwhile).
- **As fresh as the page's own answer.** An outcome reaches these listeners when it reaches the
  student's open page (the same stream, read the same way, give or take ``GATHER_SECONDS``), so
  the page a student reloads on seeing an answer shows it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
from marshmallow import ValidationError
from redis.backoff import NoBackoff
from redis.retry import Retry
from servicekit.events import ENVELOPE_FIELD, Event

from web_service.events import CONSUMES, OUTCOMES_STREAM

log = logging.getLogger(__name__)
READS = {spec.event_type: spec for spec in CONSUMES}
LISTEN_BLOCK_MS = 1_000  # a stopped listener ends within one
# For the listener's connection: it waits and starts again by itself.
NO_RETRY = Retry(NoBackoff(), 0)
# After a read that found entries, the listener waits this long before the next: in a rush the
# relay publishes a few entries at a time, and a read and a script call for each handful doubled
# the web's CPU with 10,000 pages open. A student reloads on seeing an answer a human moment
# later, not within 50 ms.
GATHER_SECONDS = 0.05
PREFIX = "web.holdings."
EPOCH = f"{PREFIX}epoch"
VERSION_SECONDS = 24 * 3600  # far longer than anything is kept: a version never goes back
# KEYS: version, kept, version, kept, ...; ARGV: an entry id per student, then the seconds a
# version lives. Sets each version to its id unless it holds a later one, and drops what was
# kept. Ids are "<ms>-<seq>"; both parts compare as numbers (ms fit a double exactly).
_MOVE_FORWARD = """
local n = #KEYS / 2
for i = 1, n do
  local new = ARGV[i]
  local nm, ns = string.match(new, "(%d+)-(%d+)")
  local current = redis.call("GET", KEYS[2 * i - 1])
  local later = true
  if current then
    local cm, cs = string.match(current, "(%d+)-(%d+)")
    if cm then
      nm, ns, cm, cs = tonumber(nm), tonumber(ns), tonumber(cm), tonumber(cs)
      later = nm > cm or (nm == cm and ns > cs)
    end
  end
  if later then
    redis.call("SET", KEYS[2 * i - 1], new, "EX", ARGV[n + 1])
  end
  redis.call("DEL", KEYS[2 * i])
end
return n
"""


def _kept_key(program_id: int, student_id: int) -> str:
    return f"{PREFIX}{program_id}.{student_id}"


def _version_key(program_id: int, student_id: int) -> str:
    return f"{PREFIX}version.{program_id}.{student_id}"


class Holdings:
    """What each student holds, per program, kept while the outcomes stream says nothing of them
    (see the module's docstring). ``client``: short commands (the web's pool); ``listener``: a
    connection of its own for the blocking read. ``seconds`` 0: nothing kept, every page asks."""

    def __init__(
        self, client: redis.Redis | None, listener: redis.Redis | None, seconds: float = 60.0
    ) -> None:
        self.client, self.listener, self.seconds = client, listener, seconds
        self._move_forward = client.register_script(_MOVE_FORWARD) if client else None
        self.listening = threading.Event()
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Holdings:
        """Listen in the background (once per process; a no-op when nothing is kept)."""
        ready = self.client is not None and self.listener is not None and self.seconds > 0
        if ready and self._thread is None:
            self._thread = threading.Thread(target=self._listen, name="holdings", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """End the listener (within one blocking read) and trust nothing kept from now on: for
        a test or a script done with the app (a listener left retrying a stopped Redis would
        run for the rest of the process)."""
        self._stopped.set()
        self.listening.clear()

    def read(
        self, program_id: int, student_id: int, ask: Callable[[], list[dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        """The student's sections: kept, or from ``ask`` (the registration service) and kept
        under the mark they were asked at."""
        if self.client is None or not self.listening.is_set():
            return ask()
        key = _kept_key(program_id, student_id)
        try:
            epoch, version, kept = self.client.mget(
                EPOCH, _version_key(program_id, student_id), key
            )
        except redis.RedisError:  # the listener will notice too; meanwhile, ask
            return ask()
        mark = f"{int(epoch or 0)}:{_text(version) if version else '0-0'}"
        if kept:
            found = json.loads(kept)
            if found["mark"] == mark:
                rows: list[dict[str, Any]] = found["rows"]
                return rows
        rows = ask()
        entry = json.dumps({"mark": mark, "rows": rows}, separators=(",", ":"))
        with contextlib.suppress(redis.RedisError):  # not kept: the next page asks again
            self.client.set(key, entry, px=max(1, int(self.seconds * 1000)))
        return rows

    def changed(self, versions: dict[tuple[int, int], str]) -> None:
        """These (program, student)s' sections may have changed, as of the stream entry id
        given: what was kept, and what a read in flight keeps, is stale (one round trip for a
        batch of the stream; a version never goes back)."""
        assert self._move_forward is not None
        keys, ids = [], []
        for (program_id, student_id), entry_id in versions.items():
            keys += [_version_key(program_id, student_id), _kept_key(program_id, student_id)]
            ids.append(entry_id)
        if keys:
            self._move_forward(keys=keys, args=[*ids, VERSION_SECONDS])

    def forget_all(self) -> None:
        """Everything kept, and whatever reads in flight keep, is stale."""
        assert self.client is not None
        self.client.incr(EPOCH)

    def _listen(self) -> None:
        assert self.listener is not None
        while not self._stopped.is_set():
            try:
                newest = self.listener.xrevrange(OUTCOMES_STREAM, count=1)
                last = newest[0][0] if newest else "0-0"
                self.forget_all()  # what was kept while nobody here listened
                self.listening.set()
                while not self._stopped.is_set():
                    found = self.listener.xread(
                        {OUTCOMES_STREAM: last}, count=1_000, block=LISTEN_BLOCK_MS
                    )
                    for _stream, entries in found or ():
                        self._heard(entries)
                        last = entries[-1][0]
                    if found:
                        time.sleep(GATHER_SECONDS)  # let the next entries gather: one read
            except redis.RedisError:
                log.warning("the web lost the outcomes stream: sections are read every page")
            except Exception:  # a bug here must not leave pages shown from a deaf cache
                log.exception("the web's outcomes listener failed; starting it again")
            self.listening.clear()
            self._stopped.wait(1.0)
        self.listening.clear()

    def _heard(self, entries: list[tuple[Any, dict[Any, Any] | None]]) -> None:
        """Entries of the outcomes stream: the students they name have changed. One it cannot
        read makes everything stale (better a read too many than a page that shows a seat the
        student lost)."""
        versions: dict[tuple[int, int], str] = {}
        for entry_id, fields in entries:
            raw = fields and (fields.get(ENVELOPE_FIELD) or fields.get(ENVELOPE_FIELD.encode()))
            try:
                event = Event.from_json(raw)  # type: ignore[arg-type]
                # A type this web does not know yet (a new version) is read as one it knows:
                # what it must not do is keep showing the sections of a student it names.
                read = READS.get(event.event_type, CONSUMES[0]).read(event.payload)
            except (ValueError, TypeError, KeyError, ValidationError):
                log.warning("an outcomes entry the web cannot read: every student is read again")
                self.forget_all()
                continue
            versions[read["program_id"], read["student_id"]] = _text(entry_id)
        if versions:
            self.changed(versions)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
