"""``/metrics``: the runs waiting for a worker, and each solved run's duration and gap."""

from __future__ import annotations

import pytest
import redis
from lottery_api_kit import ADMIN, bearer
from lottery_service.messaging import RUN_QUEUE
from lottery_service.use_cases.solve import solve_run
from prometheus_client.parser import text_string_to_metric_families


def scrape(client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = client.get("/metrics")  # no token
    assert (answer.status_code, answer.mimetype) == (200, "text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.get_data(as_text=True))
        for sample in family.samples
    }


@pytest.fixture
def run_queue(settings):
    """The runs this test sends stay out of the next test's queue (the Redis is shared)."""
    yield
    redis.Redis.from_url(settings.redis_url).delete(RUN_QUEUE)


@pytest.fixture
def program(catalog, client, run_queue):
    program = catalog.program()
    t1 = catalog.timeslot(program)
    a, _ = catalog.klass(program, [(1, [t1])])
    for student in (1, 2):
        catalog.grade(program, student, 9)
        client.post(
            f"/v1/programs/{program}/students/{student}/stars",
            json={"class_id": a},
            headers=bearer(student),
        )
    return program


def test_queued_runs_and_solved_runs_are_measured(client, program, sessions):
    queued = ("lottery_runs", (("status", "queued"),))
    solved = ("lottery_run_seconds_count", (("outcome", "done"),))
    gaps = ("lottery_run_gap_count", ())
    before = scrape(client)
    assert before[queued] == 0
    started = client.post(f"/v1/programs/{program}/lottery-runs", json={"seed": 3}, headers=ADMIN)
    waiting = scrape(client)
    assert waiting[queued] == 1
    assert waiting[("lottery_oldest_queued_run_age_seconds", ())] >= 0
    assert solve_run(sessions, started.json["id"]) == "done"
    after = scrape(client)
    assert after[queued] == 0
    assert after[solved] == before.get(solved, 0.0) + 1
    assert after[gaps] == before.get(gaps, 0.0) + 1  # the optimiser's run: gap 0 when optimal
