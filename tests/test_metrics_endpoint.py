"""Every service answers ``GET /metrics`` without a token, in the Prometheus text format,
and keeps it out of its OpenAPI document (it is operations' endpoint, not the API's)."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from service_apps import SERVICES, make_app

COMMON = (
    "http_requests_total",
    "http_request_duration_seconds",
    "outbox_unpublished_events",
    "outbox_oldest_unpublished_age_seconds",
)
CONSUMER = (  # a service that reads other services' streams
    "stream_consumer_group_oldest_undelivered_age_seconds",
    "stream_consumer_group_lag",
    "stream_consumer_group_pending",
)
OWN = {
    "registration": (
        *CONSUMER,
        "registration_queue_depth",
        "registration_queue_oldest_age_seconds",
    ),
    "profile": CONSUMER,
    "lottery": (
        *CONSUMER,
        "lottery_runs",
        "lottery_oldest_queued_run_age_seconds",
        "lottery_run_seconds",
    ),
    "identity": (),  # it reads no stream
}


@pytest.fixture(scope="module")
def clients(tmp_path_factory, redis_server) -> dict[str, Any]:
    directory = tmp_path_factory.mktemp("metrics")
    return {name: make_app(name, directory, redis_server.url).test_client() for name in SERVICES}


@pytest.mark.parametrize("service", SERVICES)
def test_metrics_answers_in_the_text_format_without_a_token(clients, service):
    client = clients[service]
    client.get("/healthz")
    answer = client.get("/metrics")
    assert answer.status_code == 200
    assert answer.mimetype == "text/plain"
    text = answer.get_data(as_text=True)
    names = {family.name for family in text_string_to_metric_families(text)}
    for name in (*COMMON, *OWN[service]):
        assert name.removesuffix("_total") in names, name
    assert 'endpoint="health.healthz"' in text


@pytest.mark.parametrize("service", SERVICES)
def test_metrics_is_not_an_api_operation(clients, service):
    document = clients[service].get("/openapi.json").json
    assert "/metrics" not in document["paths"]
