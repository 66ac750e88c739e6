"""`make up` survives losing Redis (issue 18): a burst of enrolls with ``kill -9`` of Redis in
the middle. The supervisor starts Redis again on its data (the restart is logged), every service
is ready again within 30 s, every stored request is decided exactly once with no section over
capacity, and each decided request of a sample of students reaches that student's open
outcome stream."""

import json
import os
import random
import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from devstack.upstack import UpStack
from test_make_up_restarts import DevAuth, _retry_until, _save_profiles

pytestmark = pytest.mark.slow

STUDENTS = range(1, 101)
TIMESLOTS = 3
CLASSES_PER_TIMESLOT = 4
CAPACITY = 20
SAMPLE = (3, 17, 42, 64, 99)


def test_a_rush_survives_redis_killed_in_the_middle(tmp_path):
    up = UpStack(tmp_path, REQUEUE_AFTER_SECONDS="5", SWEEP_INTERVAL_SECONDS="1").start()
    ports, stderr_log = up.ports, up.stderr_log
    try:
        auth = DevAuth(tmp_path)
        base = f"http://127.0.0.1:{ports['REGISTRATION_PORT']}"
        pid, slots = _catalog(base, auth)
        _save_profiles(f"http://127.0.0.1:{ports['PROFILE_PORT']}", pid, STUDENTS, auth)
        _await_profiles_known(base, pid, max(STUDENTS), slots[0][0], auth)
        watchers = {student: _Watcher(base, student, auth) for student in SAMPLE}

        rng = random.Random(18)
        wanted = [(s, rng.choice(slot)) for s in STUDENTS for slot in slots]
        rng.shuffle(wanted)
        half = len(wanted) // 2
        with ThreadPoolExecutor(8) as pool:
            sent = list(pool.map(lambda w: _enroll(base, pid, *w, auth), wanted[:half]))
            redis_pid = json.loads((tmp_path / "up.json").read_text())["redis"]
            os.kill(redis_pid, signal.SIGKILL)
            sent += list(pool.map(lambda w: _enroll(base, pid, *w, auth), wanted[half:]))

        # The supervisor starts Redis again, and says so.
        restarted = _retry_until(
            lambda: json.loads((tmp_path / "up.json").read_text()).get("redis"),
            lambda new_pid: new_pid not in (None, redis_pid),
        )
        assert restarted not in (None, redis_pid)
        assert "restarting redis (exit -9 SIGKILL) in " in stderr_log.read_text()
        for name in ("REGISTRATION_PORT", "PROFILE_PORT", "LOTTERY_PORT"):
            ready = _retry_until(
                lambda name=name: _get(f"http://127.0.0.1:{ports[name]}/readyz"),
                lambda response: response is not None and response.status_code == 200,
                timeout=30,
            )
            assert ready is not None and ready.status_code == 200, (name, ready and ready.text)

        # Every stored request is decided, exactly once, and nothing is over capacity.
        decided = {
            request_id: _await_decision(base, request_id, student, auth)
            for student, request_id in sent
        }
        assert len(decided) == len(wanted)
        outcomes = Counter(status["status"] for status in decided.values())
        assert set(outcomes) <= {"accepted", "rejected"}, outcomes
        catalog = httpx.get(f"{base}/v1/programs/{pid}/catalog", headers=auth.admin).json()
        sections = [s for c in catalog["classes"] for s in c["sections"]]
        assert all(s["enrolled"] <= s["capacity"] for s in sections), sections
        accepted = Counter(
            status["section_id"] for status in decided.values() if status["status"] == "accepted"
        )
        assert {s["id"]: s["enrolled"] for s in sections} == {
            s["id"]: accepted.get(s["id"], 0) for s in sections
        }
        for student in STUDENTS:
            held = httpx.get(
                f"{base}/v1/programs/{pid}/students/{student}/sections", headers=auth.admin
            ).json()["sections"]
            mine = [r for r in decided.values() if r["student_id"] == student]
            assert sorted(s["section_id"] for s in held) == sorted(
                r["section_id"] for r in mine if r["status"] == "accepted"
            ), student

        # Every decided request of the sample reached the student's open stream (reconnecting
        # with Last-Event-ID when Redis went away), each one at least once.
        for student, watcher in watchers.items():
            expected = {rid for rid, r in decided.items() if r["student_id"] == student}
            seen = watcher.await_ids(expected, timeout=30)
            assert expected <= seen, (student, expected - seen)
    finally:
        for watcher in locals().get("watchers", {}).values():
            watcher.stop()
        returncode = up.stop()
    assert returncode == 0 and "stopped\n" in up.printed


class _Watcher:
    """A page's EventSource in a thread: holds the student's outcome stream open and reconnects
    with Last-Event-ID when the server ends it, as a browser does."""

    def __init__(self, base: str, student: int, auth: DevAuth) -> None:
        self.url = f"{base}/v1/students/{student}/outcomes"
        self.student = student
        self.auth = auth
        self.ids: set[str] = set()
        self.last_event_id: str | None = None
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped.is_set():
            headers = self.auth.student(self.student)
            if self.last_event_id:
                headers["Last-Event-ID"] = self.last_event_id
            try:
                with httpx.stream("GET", self.url, headers=headers, timeout=20) as response:
                    for line in response.iter_lines():
                        if self.stopped.is_set():
                            return
                        if line.startswith("id: "):
                            self.last_event_id = line.removeprefix("id: ")
                        elif line.startswith("data: "):
                            data = json.loads(line.removeprefix("data: "))
                            if "id" in data:
                                self.ids.add(data["id"])
            except httpx.HTTPError:
                pass
            time.sleep(0.5)  # the stream's retry: 2000, shortened

    def await_ids(self, expected: set[str], timeout: float) -> set[str]:
        deadline = time.monotonic() + timeout
        while not expected <= self.ids and time.monotonic() < deadline:
            time.sleep(0.2)
        return set(self.ids)

    def stop(self) -> None:
        self.stopped.set()


def _catalog(base, auth):
    """A program of three timeslots, each with four one-section classes of 20 seats."""
    pid = httpx.post(
        f"{base}/v1/programs",
        json={"name": "Splash", "grade_min": 7, "grade_max": 12},
        headers=auth.admin,
    ).json()["id"]
    slots = []
    for hour in range(TIMESLOTS):
        slot = httpx.post(
            f"{base}/v1/programs/{pid}/timeslots",
            headers=auth.admin,
            json={"start": f"2026-12-05T1{hour}:00:00Z", "end": f"2026-12-05T1{hour}:50:00Z"},
        ).json()["id"]
        sections = []
        for index in range(CLASSES_PER_TIMESLOT):
            created = httpx.post(
                f"{base}/v1/programs/{pid}/classes",
                headers=auth.admin,
                json={
                    "title": f"Class {hour}.{index}",
                    "grade_min": 7,
                    "grade_max": 12,
                    "sections": [{"capacity": CAPACITY, "timeslot_ids": [slot]}],
                },
            ).json()
            sections.append(created["sections"][0]["id"])
        slots.append(sections)
    return pid, slots


def _await_profiles_known(base, pid, student, section, auth):
    """Registration learns profiles from events, in order: once the last student's is known
    (a probe request is not refused profile_incomplete), all are. The probe is dropped."""
    drop = {"student_id": student, "action": "drop", "section_id": section}

    def probe():
        sent = httpx.post(
            f"{base}/v1/programs/{pid}/registration-requests",
            headers=auth.student(student),
            json=drop,
        ).json()
        return _await_decision(base, sent["id"], student, auth)

    status = _retry_until(probe, lambda s: s["reason"] != "profile_incomplete", timeout=60)
    assert status["reason"] == "not_registered", status


def _enroll(base, pid, student, section, auth):
    for _ in range(3):  # a 503 (storage busy) is safe to retry with the same key
        response = httpx.post(
            f"{base}/v1/programs/{pid}/registration-requests",
            headers=auth.student(student) | {"Idempotency-Key": f"rush-{student}-{section}"},
            json={"student_id": student, "action": "enroll", "section_id": section},
            timeout=30,
        )
        if response.status_code != 503:
            break
    assert response.status_code == 202, response.text
    return student, response.json()["id"]


def _get(url):
    try:
        return httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return None


def _await_decision(base, request_id, student, auth, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        url = f"{base}/v1/registration-requests/{request_id}"
        response = _get_as(url, student, auth)
        if response is not None and response.json()["status"] not in ("queued", "waiting"):
            return response.json()
        time.sleep(0.2)
    raise AssertionError(f"request {request_id} still undecided after {timeout}s")


def _get_as(url, student, auth):
    try:
        return httpx.get(url, headers=auth.student(student), timeout=5)
    except httpx.HTTPError:
        return None
