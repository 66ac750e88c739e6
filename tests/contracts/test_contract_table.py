"""The contract as a whole: README's table is what the services' ``events.py`` declare, every
published event type has a golden payload in its schema's exact shape, and every consumed event
is published by someone, on the stream the consumer reads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from identity_service import events as identity_events
from lottery_service import events as lottery_events
from profile_service import events as profile_events
from registration_service import events as registration_events
from web_service import events as web_events

CONTRACTS = Path(__file__).parent
SERVICES = {
    "registration": registration_events,
    "profile": profile_events,
    "lottery": lottery_events,
    "identity": identity_events,
    "web": web_events,
}
PUBLISHED = [spec for module in SERVICES.values() for spec in module.PUBLISHES]
NONE = "—"


def declared_rows() -> set[tuple[str, str, str, str]]:
    """(stream, event type, producer, consumers) from the events modules."""
    rows = set()
    for spec in PUBLISHED:
        for stream in spec.streams:
            consumers = sorted(
                name
                for name, module in SERVICES.items()
                for read in module.CONSUMES
                if read.event_type == spec.event_type and stream in read.streams
            )
            rows.add((stream, spec.event_type, spec.producer, ", ".join(consumers) or NONE))
    return rows


def readme_rows() -> list[tuple[str, ...]]:
    rows = []
    for line in (CONTRACTS / "README.md").read_text().splitlines():
        if line.startswith("| `"):
            cells = tuple(cell.strip().strip("`") for cell in line.strip("|").split("|"))
            assert len(cells) == 4, line
            rows.append(cells)
    return rows


def test_the_readme_table_is_what_the_events_modules_declare():
    rows = readme_rows()
    assert len(rows) == len(set(rows)), "a row is listed twice"
    assert set(rows) == declared_rows()


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_each_service_publishes_only_under_its_own_name(name):
    module = SERVICES[name]
    assert name == module.PRODUCER
    assert {spec.producer for spec in module.PUBLISHES} <= {name}
    assert all(spec.version >= 1 for spec in (*module.PUBLISHES, *module.CONSUMES))


def test_every_consumed_event_is_published_on_the_stream_it_is_read_from():
    published = {(spec.event_type, stream) for spec in PUBLISHED for stream in spec.streams}
    for name, module in SERVICES.items():
        for read in module.CONSUMES:
            assert read.producer != name, f"{name} reads its own {read.event_type}"
            for stream in read.streams:
                assert (read.event_type, stream) in published, (name, read.event_type, stream)


def test_every_published_event_type_has_one_golden_payload():
    goldens = {path.name.removesuffix(".json") for path in CONTRACTS.glob("*.json")}
    assert goldens == {spec.event_type for spec in PUBLISHED}


@pytest.mark.parametrize("spec", PUBLISHED, ids=lambda spec: spec.event_type)
def test_each_golden_is_exactly_what_its_schema_builds(spec):
    """The golden has the schema's fields, and loading and building it again gives it back."""
    golden = json.loads((CONTRACTS / f"{spec.event_type}.json").read_text())
    assert sorted(golden) == sorted(spec.schema.fields)
    values = spec.schema.load(golden)
    assert spec.event(values).payload == golden
