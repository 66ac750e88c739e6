"""Each student's sections in a program, as the catalog shows them: kept in Redis for every web
process and dropped the moment the registration service says they changed.

In the opening minute every student reloads the catalog, and its one read of their own (their
sections) was more than half of the stack's CPU for a page: the registration web's request,
token check and query, and the web's call to it. A student's sections change only by what the
registration service publishes on its outcomes stream (a request decided, a waitlist promotion,
a lottery's assignments), so one web process listens to that stream for all (one blocking
``XREAD``, one Redis connection) and, for each student an entry names, moves the student's
version and drops what was kept. What is kept is also dropped after ``seconds``: a net, for a
registration dated to start or end later, which would change without an event (none is today:
every registration is written starting, and ended, at the moment it is decided).

Kept in Redis, not in each process: a browser's next page often arrives on another connection
(its open streams hold the first ones), so on another process. And one process listens for all
of them: with every process reading every entry, the listener was a third of the web's CPU with
10,000 pages open. The processes elect it by a lease in Redis (``LEASE_SECONDS``, renewed after
every read of the stream); the others try to take it over every second.

- **A read racing a change is not trusted.** A read notes the student's version (and the
  epoch) before it asks and keeps the answer under that mark; an entry for the student that
  arrives meanwhile moves the version, so the next page finds the mark stale and asks again.
  A version is the id of the newest stream entry naming the student, and only ever moves
  forward (a listener that lost its lease while stalled may still mark an older entry).
- **Nothing trusted while nobody listens.** While no process holds the lease every page asks
  and nothing is kept; a listener that takes the lease moves the epoch in the same step, which
  makes everything kept before it stale (entries may have been missed meanwhile). A listener
  stopped on purpose gives the lease back; one killed outright holds it at most
  ``LEASE_SECONDS``, the one window in which a page can show sections an unheard entry
  changed.
- **As fresh as the page's own answer.** An outcome reaches the listener when it reaches the
  student's open page (the same stream, read the same way, give or take ``GATHER_SECONDS``), so
  the page a student reloads on seeing an answer shows it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from servicekit.events import ENVELOPE_FIELD

from web_service.events import OUTCOMES_STREAM

log = logging.getLogger(__name__)
LISTEN_BLOCK_MS = 500  # a stopped listener ends within one, and the lease is renewed as often
LEASE_SECONDS = 3.0
LEASE_MS = int(LEASE_SECONDS * 1000)
TAKE_OVER_SECONDS = 1.0  # how often a process that does not listen tries to take the lease
# For the listener's connection: it waits and starts again by itself.
NO_RETRY = Retry(NoBackoff(), 0)
# After a read that found entries, the listener waits this long before the next: in a rush the
# relay publishes a few entries at a time, and a read and a script call for each handful doubled
# the web's CPU with 10,000 pages open. A student reloads on seeing an answer a human moment
# later, not within 50 ms.
GATHER_SECONDS = 0.05
PREFIX = "web.holdings."
EPOCH = f"{PREFIX}epoch"
LEASE = f"{PREFIX}listener"
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


# KEYS: lease, epoch; ARGV: this process's token, the lease's ms. Takes the lease when nobody
# holds it, or this process still does (it lost the stream: entries may have gone unheard),
# and moves the epoch in the same step: no read can trust what was kept before.
_TAKE_LEASE = """
if redis.call("GET", KEYS[1]) == ARGV[1] or redis.call("SET", KEYS[1], ARGV[1], "NX") then
  redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
  redis.call("INCR", KEYS[2])
  return 1
end
return 0
"""
# KEYS: lease; ARGV: token, ms. Renews the lease if it is still this process's (1), else 0.
_RENEW_LEASE = """
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0
"""
# KEYS: lease; ARGV: token. Gives the lease back if it is still this process's.
_GIVE_BACK = """
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1])
end
return 0
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
        self.token = uuid.uuid4().hex  # whose lease
        self._move_forward = client.register_script(_MOVE_FORWARD) if client else None
        self._take = client.register_script(_TAKE_LEASE) if client else None
        self._renew = client.register_script(_RENEW_LEASE) if client else None
        self._give_back = client.register_script(_GIVE_BACK) if client else None
        self.listening = threading.Event()  # this process holds the lease and listens
        self._stopped = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Holdings:
        """Stand for the listener in the background (once per process; a no-op when nothing
        is kept)."""
        ready = self.client is not None and self.listener is not None and self.seconds > 0
        if ready and self._thread is None:
            self._thread = threading.Thread(target=self._listen, name="holdings", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """End the listener (within one blocking read) and give its lease back: for a test, a
        script done with the app, or a gunicorn worker shutting down (``worker_exit`` in the
        web's ``gunicorn.conf.py``; another process takes over within ``TAKE_OVER_SECONDS``
        instead of ``LEASE_SECONDS``)."""
        self._stopped.set()
        self.listening.clear()
        self._release()

    def close(self) -> None:
        """:meth:`stop`, then wait for the listener (one blocking read at most) and close its
        connection: nothing of this object is left open for the garbage collector."""
        self.stop()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=2 * LISTEN_BLOCK_MS / 1000 + TAKE_OVER_SECONDS)
        if self.listener is not None:
            self.listener.close()

    def read(
        self, program_id: int, student_id: int, ask: Callable[[], list[dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        """The student's sections: kept, or from ``ask`` (the registration service) and kept
        under the mark they were asked at."""
        if self.client is None or self.seconds <= 0:
            return ask()
        key = _kept_key(program_id, student_id)
        try:
            lease, epoch, version, kept = self.client.mget(
                LEASE, EPOCH, _version_key(program_id, student_id), key
            )
        except redis.RedisError:  # the listener will notice too; meanwhile, ask
            return ask()
        if not lease:  # nobody listens: nothing kept can be trusted, nor kept
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
        assert self.listener is not None and self._take is not None
        while not self._stopped.is_set():
            try:
                # Where to start, before the lease: an entry published after the epoch moved
                # (which a read may have asked past) must be heard.
                newest = self.listener.xrevrange(OUTCOMES_STREAM, count=1)
                if self._take(keys=[LEASE, EPOCH], args=[self.token, LEASE_MS]):
                    self.listening.set()
                    self._follow(newest[0][0] if newest else "0-0")
            except redis.RedisError:
                log.warning("the web lost the outcomes stream: sections are read every page")
            except Exception:  # a bug here must not leave pages shown from a deaf cache
                log.exception("the web's outcomes listener failed; starting it again")
            if self.listening.is_set():
                self.listening.clear()
                self._release()
            self._stopped.wait(TAKE_OVER_SECONDS)
        self.listening.clear()

    def _follow(self, last: Any) -> None:
        """Hear the stream from ``last`` for as long as this process holds the lease."""
        assert self.listener is not None and self._renew is not None
        while not self._stopped.is_set():
            found = self.listener.xread({OUTCOMES_STREAM: last}, count=1_000, block=LISTEN_BLOCK_MS)
            for _stream, entries in found or ():
                self._heard(entries)
                last = entries[-1][0]
            if not self._renew(keys=[LEASE], args=[self.token, LEASE_MS]):
                log.warning("the web's outcomes listener lost its lease; another listens")
                return
            if found:
                time.sleep(GATHER_SECONDS)  # let the next entries gather: one read

    def _release(self) -> None:
        if self._give_back is not None:
            with contextlib.suppress(redis.RedisError):
                self._give_back(keys=[LEASE], args=[self.token])

    def _heard(self, entries: list[tuple[Any, dict[Any, Any] | None]]) -> None:
        """Entries of the outcomes stream: the students they name have changed. One it cannot
        read makes everything stale (better a read too many than a page that shows a seat the
        student lost)."""
        versions: dict[tuple[int, int], str] = {}
        for entry_id, fields in entries:
            raw = fields and (fields.get(ENVELOPE_FIELD) or fields.get(ENVELOPE_FIELD.encode()))
            named = student_named(raw)
            if named is None:
                log.warning("an outcomes entry the web cannot read: every student is read again")
                self.forget_all()
                continue
            versions[named] = _text(entry_id)
        if versions:
            self.changed(versions)


def student_named(raw: str | bytes | None) -> tuple[int, int] | None:
    """The (program, student) an outcomes entry names, or None when it cannot be read. What
    :data:`web_service.events.CONSUMES` declares (two strict integers), read without a schema:
    the listener reads every entry the registration service publishes, and a schema's load was
    most of its CPU. A type this web does not know yet (a new version) is read the same way:
    what it must not do is keep showing the sections of a student it names."""
    try:
        payload = json.loads(raw)["payload"]  # type: ignore[arg-type]
        program_id, student_id = payload["program_id"], payload["student_id"]
    except (ValueError, TypeError, KeyError):
        return None
    if type(program_id) is not int or type(student_id) is not int:
        return None
    return program_id, student_id


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
