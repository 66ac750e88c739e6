"""`make up`'s runner starts Redis and the three services, prints `ready`, serves the contract's
catalog endpoints, decides requests (gated on a profile saved in the profile service) and stops
everything on Ctrl-C."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
from devstack.ports import free_port
from devstack.token import dev_token
from devstack.upstack import PORTS
from profile_testkit import complete_profile

pytestmark = pytest.mark.slow


def test_a_port_another_program_holds_is_named_at_once(tmp_path):
    """Not a readiness wait of 90 s ending in "not ready: registration" with the reason in a
    gunicorn's retries: the setting to change, before anything starts."""
    ports = {name: free_port() for name in PORTS}
    env = {**os.environ, "VAR_DIR": str(tmp_path), **{k: str(v) for k, v in ports.items()}}
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", ports["REGISTRATION_PORT"]))
        holder.listen()
        started = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "devstack.up"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 1
    assert f"REGISTRATION_PORT={ports['REGISTRATION_PORT']}" in done.stderr
    named = done.stderr.split(":", 1)[1].split(".")[0]
    assert named.strip() == f"REGISTRATION_PORT={ports['REGISTRATION_PORT']}"  # only that one
    assert time.monotonic() - started < 30
    assert not (tmp_path / "up.json").exists()  # nothing was started


def test_up_serves_the_catalog_and_stops_cleanly(tmp_path):
    ports = {name: free_port() for name in PORTS}
    env = {**os.environ, "VAR_DIR": str(tmp_path), **{k: str(v) for k, v in ports.items()}}
    for name in ("JWT_JWKS", "JWT_JWKS_URL", "JWT_JWKS_FILE", "JWT_ISSUER", "JWT_AUDIENCE"):
        env.pop(name, None)  # the services trust `make up`'s identity service, nothing else
    process = subprocess.Popen(
        [sys.executable, "-m", "devstack.up"], env=env, stdout=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 90
        line = ""
        while not line.startswith("ready:"):
            line = process.stdout.readline()
            assert line or process.poll() is None, "devstack.up exited before it was ready"
            assert time.monotonic() < deadline, "not ready in 90 s"
        base = f"http://127.0.0.1:{ports['REGISTRATION_PORT']}"
        # Signed with the development key `make up` made for its identity service at start.
        admin = {"Authorization": f"Bearer {dev_token(tmp_path, 'admin', 'admin')}"}
        program = httpx.post(
            f"{base}/v1/programs",
            json={"name": "Splash", "grade_min": 7, "grade_max": 12},
            headers=admin,
        )
        assert program.status_code == 201
        pid = program.json()["id"]
        assert httpx.get(f"{base}/v1/programs/{pid}/catalog", headers=admin).json() == {
            "classes": []
        }
        slot = httpx.post(
            f"{base}/v1/programs/{pid}/timeslots",
            headers=admin,
            json={"start": "2026-12-05T10:00:00Z", "end": "2026-12-05T11:00:00Z"},
        ).json()["id"]
        created = httpx.post(
            f"{base}/v1/programs/{pid}/classes",
            headers=admin,
            json={
                "title": "Knots",
                "grade_min": 7,
                "grade_max": 12,
                "sections": [{"capacity": 5, "timeslot_ids": [slot]}],
            },
        ).json()
        student = {"Authorization": f"Bearer {dev_token(tmp_path, 'student', '42')}"}
        queued = httpx.post(
            f"{base}/v1/programs/{pid}/registration-requests",
            headers=student,
            json={"student_id": 42, "action": "enroll", "section_id": created["sections"][0]["id"]},
        )
        assert queued.status_code == 202
        status = _await_decision(base, queued.json()["id"], student)
        # Decided by a worker; no profile has been saved for student 42 in this program yet.
        assert (status["status"], status["reason"]) == ("rejected", "profile_incomplete")

        # The profile service learns of the program from the catalog event, then the
        # registration service learns of the saved profile from the completion event.
        profile_url = f"http://127.0.0.1:{ports['PROFILE_PORT']}"
        saved = _retry_until(
            lambda: httpx.put(
                f"{profile_url}/v1/programs/{pid}/students/42/profile",
                headers=student,
                json=complete_profile(),
            ),
            lambda response: response.status_code != 404,
        )
        assert (saved.status_code, saved.json()["complete"]) == (200, True)
        # `curl -d` sends a form content type: refused, and the saved profile survives.
        form = httpx.put(
            f"{profile_url}/v1/programs/{pid}/students/42/profile",
            headers=student | {"Content-Type": "application/x-www-form-urlencoded"},
            content=json.dumps(complete_profile(first_name=None)),
        )
        assert (form.status_code, form.json()["error"]["code"]) == (415, "unsupported_media_type")
        kept = httpx.get(f"{profile_url}/v1/programs/{pid}/students/42/profile", headers=student)
        assert kept.json()["complete"] is True
        # gunicorn's own request limits answer before the app does (README, "Bad input").
        long_line = httpx.get(f"{base}/v1/programs?q={'x' * 9000}", headers=admin)
        assert long_line.status_code == 414
        many = admin | {f"X-Header-{i}": "1" for i in range(70)}
        assert httpx.get(f"{base}/v1/programs", headers=many).status_code == 431
        section = created["sections"][0]["id"]
        decided = _retry_until(
            lambda: _await_decision(
                base,
                httpx.post(
                    f"{base}/v1/programs/{pid}/registration-requests",
                    headers=student,
                    json={"student_id": 42, "action": "enroll", "section_id": section},
                ).json()["id"],
                student,
            ),
            lambda status: status["reason"] != "profile_incomplete",
        )
        assert (decided["status"], decided["verb"]) == ("accepted", "Enrolled")
        for name in ("PROFILE_PORT", "LOTTERY_PORT"):
            assert httpx.get(f"http://127.0.0.1:{ports[name]}/readyz").status_code == 200
        assert (tmp_path / "registration.sqlite3").exists()
    finally:
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    assert "stopped" in rest
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{ports['REGISTRATION_PORT']}/healthz")


def _retry_until(attempt, done, timeout=30):
    """Events take a moment to travel: repeat ``attempt`` until ``done`` accepts its result."""
    deadline = time.monotonic() + timeout
    while True:
        result = attempt()
        if done(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.3)


def _await_decision(base, request_id, headers, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = httpx.get(f"{base}/v1/registration-requests/{request_id}", headers=headers).json()
        if status["status"] != "queued":
            return status
        time.sleep(0.2)
    raise AssertionError(f"request {request_id} still queued after {timeout}s")
