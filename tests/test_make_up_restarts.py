"""`make up` supervises: a decision worker killed with SIGKILL is started again (the restart is
logged), the stack stays ready, requests sent right after are all decided, and Flower answers."""

import json
import os
import signal
import time
from pathlib import Path

import httpx
import pytest
from devstack.token import dev_token
from devstack.upstack import UpStack
from profile_testkit import complete_profile

pytestmark = pytest.mark.slow


class DevAuth:
    """Authorization headers with tokens signed by the development key `make up` keeps under
    its VAR_DIR, which its services trust. The key is made at start: build this only once
    `make up` printed ready. Each token is signed once."""

    def __init__(self, var_dir: Path) -> None:
        self.var_dir = var_dir
        self.admin = self._headers("admin", "admin")
        self._students: dict[int, dict[str, str]] = {}

    def student(self, student: int) -> dict[str, str]:
        if student not in self._students:
            self._students[student] = self._headers("student", str(student))
        return dict(self._students[student])  # a copy: callers add headers to it

    def _headers(self, role: str, sub: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {dev_token(self.var_dir, role, sub)}"}


def test_a_killed_decision_worker_is_restarted_and_requests_are_decided(tmp_path):
    up = UpStack(tmp_path).start()
    ports, stderr_log = up.ports, up.stderr_log
    try:
        ready_line = up.await_line("ready:")
        auth = DevAuth(tmp_path)
        assert f"flower=http://127.0.0.1:{ports['FLOWER_PORT']}" in ready_line
        base = f"http://127.0.0.1:{ports['REGISTRATION_PORT']}"
        assert httpx.get(f"{base}/readyz").json()["checks"]["workers"] == "ok"
        pid, sections = _catalog(base, auth)
        profiles = f"http://127.0.0.1:{ports['PROFILE_PORT']}"
        _save_profiles(profiles, pid, range(1, 7), auth)
        # Completion events arrive in order: once the last student's has, all have.
        warm_up = _retry_until(
            lambda: _await_decision(base, _enroll(base, pid, 6, sections[0], auth)[1], 6, auth),
            lambda status: status["reason"] != "profile_incomplete",
        )
        assert warm_up["status"] == "accepted", warm_up

        victim = json.loads((tmp_path / "up.json").read_text())["registration-worker-0"]
        os.kill(victim, signal.SIGKILL)
        # Sent right away: the dead worker's partitions wait for its restart (or the sweeper).
        queued = [
            _enroll(base, pid, student, sections[student % len(sections)], auth)
            for student in range(1, 6)
        ]
        statuses = [
            _await_decision(base, request_id, student, auth) for student, request_id in queued
        ]
        assert [s["status"] for s in statuses] == ["accepted"] * 5, statuses

        restarted = _retry_until(
            lambda: json.loads((tmp_path / "up.json").read_text()).get("registration-worker-0"),
            lambda new_pid: new_pid not in (None, victim),
        )
        assert restarted not in (None, victim)
        assert "restarting registration-worker-0 (exit -9 SIGKILL) in " in (stderr_log.read_text())
        for name in ("REGISTRATION_PORT", "PROFILE_PORT", "LOTTERY_PORT"):
            ready = httpx.get(f"http://127.0.0.1:{ports[name]}/readyz")
            assert ready.status_code == 200, ready.text
            assert httpx.get(f"http://127.0.0.1:{ports[name]}/metrics").status_code == 200
        # The web's /metrics adds up the service's processes: the workers' decisions show.
        metrics = httpx.get(f"{base}/metrics").text
        accepted = [
            float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith("registration_decisions_total{") and 'outcome="accepted"' in line
        ]
        assert sum(accepted) >= 6, metrics  # the warm-up and the five after the kill
        # A restart is a new series: two deciders started, one killed, one started again.
        deciders = [
            line
            for line in metrics.splitlines()
            if line.startswith("service_process_start_time_seconds{")
            and 'process="registration-decider"' in line
        ]
        assert len(deciders) == 3, deciders
        flower = _retry_until(
            lambda: _get(f"http://127.0.0.1:{ports['FLOWER_PORT']}/healthcheck"),
            lambda response: response is not None and response.status_code == 200,
        )
        assert flower is not None and flower.status_code == 200
    finally:
        returncode = up.stop()
    assert returncode == 0 and "stopped\n" in up.printed
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{ports['FLOWER_PORT']}/healthcheck")


def _catalog(base, auth):
    """A program with one class of three sections (spread over the decision partitions)."""
    pid = httpx.post(
        f"{base}/v1/programs",
        json={"name": "Splash", "grade_min": 7, "grade_max": 12},
        headers=auth.admin,
    ).json()["id"]
    slot = httpx.post(
        f"{base}/v1/programs/{pid}/timeslots",
        headers=auth.admin,
        json={"start": "2026-12-05T10:00:00Z", "end": "2026-12-05T11:00:00Z"},
    ).json()["id"]
    created = httpx.post(
        f"{base}/v1/programs/{pid}/classes",
        headers=auth.admin,
        json={
            "title": "Knots",
            "grade_min": 7,
            "grade_max": 12,
            "sections": [{"capacity": 5, "timeslot_ids": [slot]} for _ in range(3)],
        },
    ).json()
    return pid, [section["id"] for section in created["sections"]]


def _save_profiles(profile_url, pid, students, auth):
    """Complete profiles, then wait until registration has heard of the last one."""
    for student in students:
        saved = _retry_until(
            lambda student=student: httpx.put(
                f"{profile_url}/v1/programs/{pid}/students/{student}/profile",
                headers=auth.student(student),
                json=complete_profile(),
            ),
            lambda response: response.status_code != 404,
        )
        assert saved.status_code == 200, saved.text


def _enroll(base, pid, student, section, auth):
    response = httpx.post(
        f"{base}/v1/programs/{pid}/registration-requests",
        headers=auth.student(student),
        json={"student_id": student, "action": "enroll", "section_id": section},
    )
    assert response.status_code == 202, response.text
    return student, response.json()["id"]


def _get(url):
    try:
        return httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return None


def _retry_until(attempt, done, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        result = attempt()
        if done(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.3)


def _await_decision(base, request_id, student, auth, timeout=45):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        url = f"{base}/v1/registration-requests/{request_id}"
        status = httpx.get(url, headers=auth.student(student)).json()
        if status["status"] != "queued":
            return status
        time.sleep(0.2)
    raise AssertionError(f"request {request_id} still queued after {timeout}s")
