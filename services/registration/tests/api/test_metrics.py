"""``/metrics``: each partition's queue depth rises when requests are stored queued and falls
when they are decided; the decisions counter counts them by outcome and reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client.parser import text_string_to_metric_families
from registration_service import metrics
from registration_service.use_cases import requests
from registration_service.use_cases.drain import drain_partition
from registration_service.use_cases.requests import NewRequest
from registration_service.worker import relay
from registration_testkit import CatalogBuilder


def scrape(client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = client.get("/metrics")  # no token
    assert answer.status_code == 200
    assert answer.mimetype == "text/plain"
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.get_data(as_text=True))
        for sample in family.samples
    }


def depth(samples, partition: int) -> float:
    return samples[("registration_queue_depth", (("partition", str(partition)),))]


def decisions(samples, outcome: str, reason: str = "") -> float:
    key = ("registration_decisions_total", (("outcome", outcome), ("reason", reason)))
    return samples.get(key, 0.0)


@pytest.fixture
def section(sessions) -> tuple[int, int]:
    with sessions() as session, session.begin():
        build = CatalogBuilder(session)
        program = build.program()
        section = build.section(program, [build.timeslot(program)], capacity=1)
        for student in (1, 2, 3):
            build.complete_profile(program, student)
    return program, section


def test_queue_depth_rises_when_stored_and_falls_when_decided(client, sessions, settings, section):
    program, section_id = section
    partitions = settings.decision_partitions
    before = scrape(client)
    assert all(depth(before, p) == 0 for p in range(partitions))
    received = datetime.now(UTC) - timedelta(seconds=30)
    news = [
        NewRequest(program, student, "enroll", section_id, received_at=received)
        for student in (1, 2, 3)
    ]
    with sessions() as session, session.begin():
        stored = requests.submit_many(session, news, partitions=partitions)
    partition = stored[0].partition
    queued = scrape(client)
    assert depth(queued, partition) == 3
    age = queued[("registration_queue_oldest_age_seconds", (("partition", str(partition)),))]
    assert age >= 29

    drained = drain_partition(sessions, partition, batch_size=16, max_batches=10)
    assert drained.decided == 3
    after = scrape(client)
    assert depth(after, partition) == 0
    assert decisions(after, "accepted") == decisions(before, "accepted") + 1
    assert decisions(after, "rejected", "section_full") == (
        decisions(before, "rejected", "section_full") + 2
    )
    waited = ("registration_request_to_decision_seconds_count", ())
    assert after[waited] == before.get(waited, 0.0) + 3
    assert after[("registration_decision_batch_seconds_count", ())] >= 1


def test_the_scrape_names_every_registration_metric(client):
    answer = client.get("/metrics").get_data(as_text=True)
    for name in (
        "http_requests_total",
        "http_request_duration_seconds",
        "registration_queue_depth",
        "registration_queue_oldest_age_seconds",
        "outbox_unpublished_events",
        "outbox_oldest_unpublished_age_seconds",
        "stream_consumer_group_pending",
        "registration_decision_batch_seconds",
        "registration_request_to_decision_seconds",
        "registration_sweeper_resends_total",
    ):
        assert f"# TYPE {name} " in answer or f"\n{name}" in answer, name


def test_requests_are_counted_by_endpoint_not_path(client):
    request_id = "ab" * 16
    client.get(f"/v1/registration-requests/{request_id}")  # 401: no token, still counted
    labels = (("endpoint", "none"), ("method", "GET"), ("status", "404"))
    counted = ("http_requests_total", labels)
    before = scrape(client).get(counted, 0.0)
    client.get("/no/such/path")
    samples = scrape(client)
    assert samples[counted] == before + 1
    assert not any(request_id in str(key) for key in samples)
    refused = [dict(key[1]) for key in samples if key[0] == "http_requests_total"]
    assert any(
        labels["endpoint"].startswith("requests.") and labels["status"] == "401"
        for labels in refused
    ), refused


def test_the_relay_reads_the_groups_the_scrape_reports():
    assert metrics.RELAY_GROUP == relay.CONSUMER_GROUP
