"""The web reads the registration service's golden outcome and promotion payloads with its own
schema (a field added later too), and drops what it kept of the student each one names."""

from __future__ import annotations

import time

import pytest
import redis
from servicekit.events import ENVELOPE_FIELD, Event
from web_service import events
from web_service.holdings import NO_RETRY, Holdings, student_named

ADDED_LATER = {"added_in_a_later_release": {"any": ["shape"]}}


@pytest.mark.parametrize("spec", events.CONSUMES, ids=lambda spec: spec.event_type)
def test_the_reader_keeps_only_whose_sections_changed(golden, spec):
    example = golden(spec.event_type)
    read = spec.read(example | ADDED_LATER)
    assert read == {"program_id": example["program_id"], "student_id": example["student_id"]}
    # The listener reads the same two fields without the schema (it reads every entry).
    entry = Event(spec.event_type, "registration", example | ADDED_LATER).to_json()
    assert student_named(entry) == (read["program_id"], read["student_id"])


@pytest.mark.parametrize("spec", events.CONSUMES, ids=lambda spec: spec.event_type)
def test_each_golden_on_the_stream_drops_the_students_sections(redis_server, golden, spec):
    client = redis.Redis(port=redis_server.port, db=7)
    client.delete(events.OUTCOMES_STREAM)
    listener = redis.Redis(port=redis_server.port, db=7, retry=NO_RETRY)
    holdings = Holdings(client, listener).start()
    assert holdings.listening.wait(5)
    example = golden(spec.event_type) | ADDED_LATER
    key = (example["program_id"], example["student_id"])
    asked: list[int] = []
    holdings.read(*key, lambda: asked.append(1) or [])
    holdings.read(*key, lambda: asked.append(1) or [])
    assert len(asked) == 1
    entry = Event(spec.event_type, "registration", example).to_json()
    client.xadd(events.OUTCOMES_STREAM, {ENVELOPE_FIELD: entry})
    deadline = time.monotonic() + 5
    while len(asked) == 1 and time.monotonic() < deadline:
        holdings.read(*key, lambda: asked.append(1) or [])
        time.sleep(0.02)
    holdings.stop()
    assert len(asked) == 2
