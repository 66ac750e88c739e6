"""Versioned events on Redis Streams: the envelope, a publisher and a consumer-group reader.

Facts travel as ``<producer>.<entity>.<past-tense verb>.v<N>`` events. Consumers ignore
unknown fields and drop duplicates by ``event_id`` (delivery is at least once).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import redis

from servicekit.logging_setup import correlation_id

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


class StreamPublisher:
    """Append events to a stream, capped so a stream never grows without bound."""

    def __init__(self, client: redis.Redis, max_length: int = 1_000_000) -> None:
        self._client = client
        self._max_length = max_length

    def publish(self, stream: str, event_json: str) -> str:
        entry_id = self._client.xadd(
            stream, {ENVELOPE_FIELD: event_json}, maxlen=self._max_length, approximate=True
        )
        return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)

    def publish_many(self, entries: Sequence[tuple[str, str]]) -> list[str]:
        """Append ``(stream, event_json)`` pairs in order, in one round trip (a pipeline)."""
        pipeline = self._client.pipeline(transaction=False)
        for stream, event_json in entries:
            pipeline.xadd(
                stream, {ENVELOPE_FIELD: event_json}, maxlen=self._max_length, approximate=True
            )
        return [e.decode() if isinstance(e, bytes) else str(e) for e in pipeline.execute()]

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


class StreamConsumer:
    """Read one stream through a consumer group; acknowledge an entry once its handler returns.

    A new group starts at the beginning of the stream, so a fresh read model replays history.
    On start the consumer first re-reads its own pending (delivered, never acknowledged)
    entries, so a crash between handling and acknowledging costs a duplicate, never a loss.
    """

    def __init__(self, client: redis.Redis, stream: str, group: str, consumer: str) -> None:
        self._client = client
        self.stream = stream
        self.group = group
        self.consumer = consumer
        self._pending_done = False

    def ensure_group(self) -> None:
        try:
            self._client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

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
        entries = [] if self._pending_done else self._read("0", count, None)
        if not entries:
            self._pending_done = True
            entries = self._read(">", count, block_ms)
        parsed: list[tuple[bytes | str, Event | None]] = []
        for entry_id, fields in entries:
            raw = fields and (fields.get(ENVELOPE_FIELD) or fields.get(ENVELOPE_FIELD.encode()))
            if not raw:
                log.warning("dropping stream entry %s without an envelope", entry_id)
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
