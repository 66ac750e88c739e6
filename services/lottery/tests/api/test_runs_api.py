"""Lottery runs over HTTP: queued with a message for the worker, watched, committed once."""

from __future__ import annotations

import pytest
import redis
from lottery_api_kit import ADMIN, bearer
from lottery_service.messaging import RUN_QUEUE
from lottery_service.use_cases.solve import solve_run


@pytest.fixture
def program(catalog, client):
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


def test_a_run_is_queued_watched_and_committed_once(client, program, sessions, settings):
    started = client.post(f"/v1/programs/{program}/lottery-runs", json={"seed": 3}, headers=ADMIN)
    assert started.status_code == 202
    run_id = started.json["id"]
    assert started.json["status"] == "queued"
    assert redis.Redis.from_url(settings.redis_url).llen(RUN_QUEUE) == 1  # the worker's message
    early = client.get(f"/v1/lottery-runs/{run_id}/assignments", headers=ADMIN)
    assert (early.status_code, early.json["error"]["code"]) == (409, "run_not_done")

    solve_run(sessions, run_id)  # what the worker does with the message
    run = client.get(f"/v1/lottery-runs/{run_id}", headers=ADMIN).json
    assert (run["status"], run["seed"], run["stats"]["enrollments"]) == ("done", 3, 1)
    assert run["stats"]["least_served"]
    as_student = client.get(f"/v1/lottery-runs/{run_id}", headers=bearer(1)).json
    assert "least_served" not in as_student["stats"]
    (assignment,) = client.get(f"/v1/lottery-runs/{run_id}/assignments", headers=ADMIN).json[
        "assignments"
    ]
    assert assignment["student_id"] in (1, 2)

    assert client.post(f"/v1/lottery-runs/{run_id}/commit", headers=bearer(1)).status_code == 403
    committed = client.post(f"/v1/lottery-runs/{run_id}/commit", headers=ADMIN)
    assert (committed.status_code, committed.json["status"]) == (202, "committing")
    again = client.post(f"/v1/lottery-runs/{run_id}/commit", headers=ADMIN)
    assert again.status_code == 409
    assert "already being committed" in again.json["error"]["message"]
    revert = client.post(f"/v1/lottery-runs/{run_id}/revert", headers=ADMIN)
    assert revert.status_code == 409


def test_run_input_is_checked(client, program):
    url = f"/v1/programs/{program}/lottery-runs"
    bad = client.post(url, json={"seed": -1, "time_limit_seconds": 0}, headers=ADMIN)
    assert bad.status_code == 422
    assert set(bad.json["error"]["fields"]) == {"seed", "time_limit_seconds"}
    assert client.post(url, json={}, headers=bearer(1)).status_code == 403
    assert client.post("/v1/programs/999/lottery-runs", json={}, headers=ADMIN).status_code == 404
    assert client.get("/v1/lottery-runs/999", headers=ADMIN).status_code == 404
