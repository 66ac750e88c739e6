"""Versioned events on Redis Streams: the envelope, a publisher and a consumer-group reader.

Facts travel as ``<producer>.<entity>.<past-tense verb>.v<N>`` events. Consumers ignore
unknown fields and drop duplicates by ``event_id`` (delivery is at least once).

Streams keep a retention, not a history: the publisher trims every entry older than
``STREAM_RETENTION_SECONDS`` and lets streams named by an expiring prefix (one per student)
expire after as long without a publish. A consumer group that stood behind what was trimmed
missed entries: :class:`StreamConsumer` notices it, says so loudly and counts it
(``stream_consumer_gaps_total``); the producing service's replay command stages what the
consumer needs again from its database.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis

from servicekit.logging_setup import correlation_id
from servicekit.metrics import STREAM_CONSUMER_GAPS

log = logging.getLogger(__name__)

ENVELOPE_FIELD = "envelope"


@dataclass(frozen=True)
class Event:
    event_type: str
    producer: str
    payload: dict[str, Any]
    event_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    occurred_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    correlation_id: str = field(default_factory=correlation_id.get)

    def to_json(self) -> str:
        # Not dataclasses.asdict: it deep-copies the payload, which costs more than the dump.
        envelope = {name: getattr(self, name) for name in self.__dataclass_fields__}
        return json.dumps(envelope, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_json(cls, raw: str | bytes) -> Event:
        data = json.loads(raw)
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**known)  # unknown fields are ignored on purpose


DEFAULT_RETENTION_SECONDS = 7 * 24 * 3600
# The newest entry each (non-expiring) stream had trimmed, by stream: what a consumer group
# standing before it never read. Redis 7 keeps this itself (XINFO STREAM's
# max-deleted-entry-id); Redis 6.2, which development and the tests run, does not.
TRIMMED_KEY = "servicekit.streams.trimmed"

# Trim one stream to its retention, exactly, and remember the newest entry trimmed.
# KEYS[1] the stream, KEYS[2] TRIMMED_KEY; ARGV[1] the oldest id to keep. Returns how many
# entries were trimmed. One call per stream per batch, in the batch's pipeline.
_TRIM_AND_RECORD = """
local newest = redis.call('XREVRANGE', KEYS[1], '(' .. ARGV[1], '-', 'COUNT', 1)
if #newest == 0 then return 0 end
local trimmed = redis.call('XTRIM', KEYS[1], 'MINID', ARGV[1])
local id = newest[1][1]
local known = redis.call('HGET', KEYS[2], KEYS[1])
local function parts(entry_id)
  local ms, seq = string.match(entry_id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
if known then
  local kms, kseq = parts(known)
  local ims, iseq = parts(id)
  if ims < kms or (ims == kms and iseq <= kseq) then return trimmed end
end
redis.call('HSET', KEYS[2], KEYS[1], id)
return trimmed
"""


class StreamPublisher:
    """Append events to streams, each kept for ``retention_seconds`` and no longer.

    Every publish trims what has grown older than the retention (``MINID``). Streams whose name
    starts with one of ``expiring_prefixes`` (one per student: nobody reads them through a
    consumer group) are trimmed approximately (whole nodes, the cheap way) and get an
    ``EXPIRE`` of the retention, renewed by each publish, so a stream nobody publishes to
    goes away. The others (read by consumer groups) are trimmed exactly, and the newest entry
    trimmed is recorded, so a group that had not read it can tell (:class:`StreamConsumer`).
    """

    def __init__(
        self,
        client: redis.Redis,
        *,
        retention_seconds: float = DEFAULT_RETENTION_SECONDS,
        expiring_prefixes: Sequence[str] = (),
    ) -> None:
        if retention_seconds <= 0:
            raise ValueError("retention_seconds must be positive")
        self._client = client
        self.retention_seconds = retention_seconds
        self.expiring_prefixes = tuple(expiring_prefixes)

    def expires(self, stream: str) -> bool:
        return stream.startswith(self.expiring_prefixes) if self.expiring_prefixes else False

    def publish(self, stream: str, event_json: str) -> str:
        return self.publish_many([(stream, event_json)])[0]

    def publish_many(self, entries: Sequence[tuple[str, str]]) -> list[str]:
        """Append ``(stream, event_json)`` pairs in order, in one round trip (a pipeline), each
        stream trimmed to the retention first, and each expiring one given its time to live."""
        if not entries:
            return []
        min_id = f"{int((time.time() - self.retention_seconds) * 1000)}-0"
        streams = list(dict.fromkeys(stream for stream, _ in entries))
        pipeline = self._client.pipeline(transaction=False)
        for stream in streams:
            if not self.expires(stream):
                # EVAL, not EVALSHA: a Redis that restarted has forgotten every script.
                pipeline.eval(_TRIM_AND_RECORD, 2, stream, TRIMMED_KEY, min_id)
        for stream, event_json in entries:
            if self.expires(stream):
                pipeline.xadd(stream, {ENVELOPE_FIELD: event_json}, minid=min_id, approximate=True)
            else:
                pipeline.xadd(stream, {ENVELOPE_FIELD: event_json})
        ttl = max(1, int(self.retention_seconds))
        for stream in streams:
            if self.expires(stream):
                pipeline.expire(stream, ttl)
        results = pipeline.execute()
        trims = sum(not self.expires(stream) for stream in streams)
        added = results[trims : trims + len(entries)]
        return [e.decode() if isinstance(e, bytes) else str(e) for e in added]

    def read_since(self, streams: Sequence[str], start: str) -> list[list[str]]:
        """For each stream, the ``event_id`` of every entry from ``start`` on (one round trip)."""
        pipeline = self._client.pipeline(transaction=False)
        for stream in streams:
            pipeline.xrange(stream, min=start)
        return [
            [event_id for _, fields in entries if (event_id := _event_id(fields))]
            for entries in pipeline.execute()
        ]

    def run_id(self) -> str:
        """The Redis server's run id: a new one means it restarted (and may have lost writes)."""
        return str(self._client.info("server")["run_id"])


def _event_id(fields: dict[bytes | str, bytes | str] | None) -> str | None:
    raw = fields and (fields.get(ENVELOPE_FIELD) or fields.get(ENVELOPE_FIELD.encode()))
    if not raw:
        return None
    event_id = json.loads(raw).get("event_id")
    return str(event_id) if event_id else None


Handler = Callable[[Event], None]
# One entry as redis-py parses it (RESP2); an entry trimmed while pending has no fields ({} or
# None, depending on the version).
StreamEntry = tuple[bytes | str, dict[bytes | str, bytes | str] | None]


REPLAY_HINT = "see the runbook, 'A consumer fell behind the retention'"
GAP_CHECK_SECONDS = 60.0


class StreamConsumer:
    """Read one stream through a consumer group; acknowledge an entry once its handler returns.

    A new group starts at the beginning of the stream, so a fresh read model replays history.
    On start the consumer first re-reads its own pending (delivered, never acknowledged)
    entries, so a crash between handling and acknowledging costs a duplicate, never a loss.

    Before its first read, and every ``GAP_CHECK_SECONDS`` after, it checks that the stream
    still holds everything the group has not read: a group that stood behind entries trimmed
    for their age (stopped longer than the retention, or created after them) has a gap. It is
    logged as an error naming ``replay_hint`` (the command that stages those events again) and
    counted in ``stream_consumer_gaps_total``; reading then goes on from what the stream holds.
    """

    def __init__(
        self,
        client: redis.Redis,
        stream: str,
        group: str,
        consumer: str,
        *,
        replay_hint: str = REPLAY_HINT,
    ) -> None:
        self._client = client
        self.stream = stream
        self.group = group
        self.consumer = consumer
        self.replay_hint = replay_hint
        self._pending_done = False
        self._gap_checked_at: float | None = None
        self._gaps_told: set[tuple[str, str]] = set()

    def ensure_group(self) -> None:
        try:
            self._client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def check_gap(self) -> bool:
        """Whether the group stands before an entry the stream no longer holds (logged and
        counted once per position). Three cheap calls: XINFO GROUPS, the trimmed record and
        XINFO STREAM."""
        self._gap_checked_at = time.monotonic()
        position = self._group_position()
        if position is None:
            return False
        trimmed = self._newest_trimmed()
        if trimmed is None or _order(position) >= _order(trimmed):
            return False
        if (position, trimmed) not in self._gaps_told:
            self._gaps_told.add((position, trimmed))
            self._tell_gap(f"the group stands at {position}, entries up to {trimmed} are gone")
        return True

    def _group_position(self) -> str | None:
        try:
            groups = self._client.xinfo_groups(self.stream)
        except redis.ResponseError:  # no such stream
            return None
        for info in groups:
            if _text(info.get("name")) == self.group:
                return _text(info.get("last-delivered-id") or "0-0")
        return None

    def _newest_trimmed(self) -> str | None:
        """The newest entry gone from the stream: as our publisher recorded it, or as Redis 7+
        counts it (which also sees XDEL and trims by hand), whichever is later."""
        candidates = []
        recorded = self._client.hget(TRIMMED_KEY, self.stream)
        if recorded:
            candidates.append(_text(recorded))
        deleted = self._client.xinfo_stream(self.stream).get("max-deleted-entry-id")
        if deleted and _text(deleted) != "0-0":
            candidates.append(_text(deleted))
        return max(candidates, key=_order) if candidates else None

    def _tell_gap(self, detail: str) -> None:
        STREAM_CONSUMER_GAPS.labels(self.stream, self.group).inc()
        log.error(
            "consumer group %s of stream %s missed events older than the stream's retention "
            "(%s); its read model lacks them until they are staged again: %s",
            self.group,
            self.stream,
            detail,
            self.replay_hint,
            extra={"stream": self.stream, "group": self.group, "replay": self.replay_hint},
        )

    def poll(self, handler: Handler, count: int = 100, block_ms: int | None = 1000) -> int:
        """Handle at most ``count`` entries; returns how many were handled.

        ``block_ms`` None returns at once when nothing is new. When a handler raises, its entry
        stays pending and the next poll starts again from the pending entries.
        """
        handled = 0
        for entry_id, event in self._next(count, block_ms):
            if event is not None:
                try:
                    handler(event)
                except Exception:
                    self._pending_done = False
                    raise
                handled += 1
            self._client.xack(self.stream, self.group, entry_id)
        return handled

    def poll_batch(
        self, handler: Callable[[list[Event]], None], count: int = 500, block_ms: int | None = None
    ) -> int:
        """Hand at most ``count`` entries to ``handler`` at once (one transaction for many
        events) and acknowledge them all once it returns; when it raises, none is."""
        entries = self._next(count, block_ms)
        batch = [event for _, event in entries if event is not None]
        if batch:
            try:
                handler(batch)
            except Exception:
                self._pending_done = False
                raise
        if entries:
            self._client.xack(self.stream, self.group, *[entry_id for entry_id, _ in entries])
        return len(batch)

    def _next(self, count: int, block_ms: int | None) -> list[tuple[bytes | str, Event | None]]:
        """This consumer's pending entries first (after a restart), then new ones; None for an
        entry without an envelope (a pending entry the stream has since trimmed)."""
        self.ensure_group()
        due = self._gap_checked_at is None or (
            time.monotonic() - self._gap_checked_at >= GAP_CHECK_SECONDS
        )
        if due:
            self.check_gap()
        entries = [] if self._pending_done else self._read("0", count, None)
        if not entries:
            self._pending_done = True
            entries = self._read(">", count, block_ms)
        parsed: list[tuple[bytes | str, Event | None]] = []
        for entry_id, fields in entries:
            raw = fields and (fields.get(ENVELOPE_FIELD) or fields.get(ENVELOPE_FIELD.encode()))
            if not raw:  # trimmed while pending: delivered once, never handled
                self._tell_gap(f"entry {_text(entry_id)} was trimmed before it was handled")
            parsed.append((entry_id, Event.from_json(raw) if raw else None))
        return parsed

    def _read(self, start: str, count: int, block_ms: int | None) -> list[StreamEntry]:
        response = self._client.xreadgroup(
            self.group, self.consumer, {self.stream: start}, count=count, block=block_ms
        )
        if not response:
            return []
        if not isinstance(response, list):
            raise TypeError("StreamConsumer reads RESP2 replies; make the client with protocol=2")
        entries: list[StreamEntry] = response[0][1]  # [[stream, [(entry_id, fields), ...]]]
        return entries


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _order(entry_id: str) -> tuple[int, int]:
    milliseconds, _, sequence = entry_id.partition("-")
    return int(milliseconds), int(sequence or 0)
