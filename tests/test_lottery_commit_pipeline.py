"""A lottery from preferences to rosters and back, with every real process in between.

Registration (gunicorn, partition workers, relay) and the lottery (gunicorn, its Celery worker
and relay)
run on PostgreSQL and one Redis; the profile service's completions are published on its stream
as it would. The catalog reaches the lottery only through registration's events; the commit
reaches registration only through the lottery's; the outcomes come back the same way. After the
commit the rosters are the run's assignments (less what registration's rules refused); after
the revert only what students did themselves remains.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from devstack.lottery_stack import LotteryStack
from devstack.pipeline import PipelineStack, post_request, wait_until_decided
from devstack.redis_server import RedisServer
from devstack.tokens import issue_token
from lottery_service.migrate import upgrade as upgrade_lottery
from profile_service.events import profile_completed
from registration_service.adapters.models import StudentRegistrationRow
from registration_service.migrate import upgrade as upgrade_registration
from servicekit.db import make_session_factory
from servicekit.events import StreamPublisher
from sqlalchemy import select

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ADMIN = {"Authorization": f"Bearer {issue_token('admin', 'admin', 3600)}"}
STUDENTS = range(1, 31)


def wait_for(check: Callable[[], Any], what: str, timeout: float = 90) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f}s: {what}")
        time.sleep(0.2)
    return value


@pytest.fixture(scope="module")
def system(postgres_server, tmp_path_factory) -> Iterator[dict[str, Any]]:
    logs = tmp_path_factory.mktemp("lottery-pipeline-logs")
    redis = RedisServer(tmp_path_factory.mktemp("lottery-pipeline-redis")).start()
    registration_url = postgres_server.create_database(f"reg_{uuid.uuid4().hex[:10]}")
    lottery_url = postgres_server.create_database(f"lot_{uuid.uuid4().hex[:10]}")
    upgrade_registration(registration_url)
    upgrade_lottery(lottery_url)
    registration = PipelineStack(registration_url, redis, logs).start()
    lottery = LotteryStack(lottery_url, redis, logs, time_limit_seconds=5).start()
    engine, sessions = make_session_factory(registration_url)
    clients = [
        httpx.Client(base_url=stack.base_url, timeout=30) for stack in (registration, lottery)
    ]
    try:
        yield {
            "registration": clients[0],
            "lottery": clients[1],
            "registration_sessions": sessions,
            "registration_engine": engine,
            "publisher": StreamPublisher(registration.redis_client()),
        }
    finally:
        for client in clients:
            client.close()
        engine.dispose()
        lottery.stop()
        registration.stop()
        redis.stop()


def run_reaches(lottery: httpx.Client, run_id: int, status: str) -> dict[str, Any]:
    """The run once its status is ``status``: solved, every enrollment decided, or dropped."""

    def reached() -> dict[str, Any] | None:
        run = lottery.get(f"/v1/lottery-runs/{run_id}", headers=ADMIN).json()
        assert run["status"] != "failed", run["error"]
        return run if run["status"] == status else None

    return wait_for(reached, f"lottery run {run_id} is {status}")


def solved_run(
    lottery: httpx.Client, program: int, preferences: dict[str, Any], seed: int
) -> tuple[int, dict[str, Any], list[dict[str, Any]]]:
    """Import the preferences (once the lottery has learnt the catalog and the grades from the
    events), run the lottery: (run id, the run once done, its assignments)."""
    url = f"/v1/programs/{program}/preferences"
    wait_for(
        lambda: lottery.put(url, json=preferences, headers=ADMIN).status_code == 200,
        "the lottery knows the catalog and every student's grade",
    )
    run_id = lottery.post(
        f"/v1/programs/{program}/lottery-runs", json={"seed": seed}, headers=ADMIN
    ).json()["id"]
    done = run_reaches(lottery, run_id, "done")
    assigned = lottery.get(f"/v1/lottery-runs/{run_id}/assignments", headers=ADMIN).json()
    return run_id, done, assigned["assignments"]


def roster(system: dict[str, Any], section_id: int) -> list[int]:
    answer = system["registration"].get(f"/v1/sections/{section_id}/students", headers=ADMIN)
    return sorted(answer.json()["student_ids"])


def test_commit_enrolls_the_assignments_and_revert_takes_them_back(system):
    reg, lottery = system["registration"], system["lottery"]
    program = reg.post(
        "/v1/programs", json={"name": "Splash", "grade_min": 7, "grade_max": 12}, headers=ADMIN
    ).json()["id"]
    slots = [
        reg.post(
            f"/v1/programs/{program}/timeslots",
            json={"start": f"2026-12-05T{h:02d}:00:00Z", "end": f"2026-12-05T{h:02d}:50:00Z"},
            headers=ADMIN,
        ).json()["id"]
        for h in (9, 10)
    ]
    classes = []
    for title, capacity, timeslots in (
        ("Knots", 8, [slots[0]]),
        ("Origami", 20, [slots[1]]),  # room for every student not in Rockets
        ("Rockets", 10, slots),  # two timeslots: conflicts with both others
    ):
        body = {"title": title, "grade_min": 7, "grade_max": 12}
        body["sections"] = [{"capacity": capacity, "timeslot_ids": timeslots}]
        created = reg.post(f"/v1/programs/{program}/classes", json=body, headers=ADMIN).json()
        classes.append((created["id"], created["sections"][0]["id"]))
    (knots, knots_section), (origami, origami_section), (rockets, _) = classes
    for student in STUDENTS:  # as the profile service announces a complete profile
        payload = {"profile_id": student, "program_id": program, "student_id": student}
        payload |= {"grade": 9, "graduation_year": 2029, "school_year": 2026}
        event = profile_completed.event(payload)
        system["publisher"].publish("profile.profiles", event.to_json())

    # Student 1 takes Origami themselves, first come first served, before the lottery commits.
    own = {"student_id": 1, "action": "enroll", "section_id": origami_section}
    student_token = issue_token(1, "student", 3600)
    assert post_request(reg, program, student_token, own).status_code == 202
    wait_until_decided(system["registration_engine"])

    # The lottery learns the catalog and the grades from the events alone.
    preferences = {
        "stars": [{"student_id": s, "class_id": c} for s in STUDENTS for c in (knots, origami)],
        "priorities": [
            {"student_id": s, "timeslot_id": slots[0], "rank": 1, "class_id": rockets}
            for s in STUDENTS
            if s % 3 == 0
        ],
    }
    run_id, done, assigned = solved_run(lottery, program, preferences, seed=5)
    assert done["stats"]["empty_schedules"] == 0
    assert any(a["student_id"] == 1 and a["section_id"] == origami_section for a in assigned)

    assert lottery.post(f"/v1/lottery-runs/{run_id}/commit", headers=ADMIN).status_code == 202
    assert lottery.post(f"/v1/lottery-runs/{run_id}/commit", headers=ADMIN).status_code == 409
    committed = run_reaches(lottery, run_id, "committed")
    # Student 1 already held Origami: the one enrollment registration refused, and why.
    assert committed["stats"]["commit"]["rejected"] == 1
    assert committed["stats"]["commit"]["reasons"] == {"already_in_class": 1}
    accepted = {(a["student_id"], a["section_id"]) for a in assigned} - {(1, origami_section)}
    for _, section_id in classes:
        expected = sorted(s for s, c in accepted if c == section_id)
        if section_id == origami_section:
            expected = sorted([*expected, 1])
        assert roster(system, section_id) == expected
    with system["registration_sessions"]() as session:
        starts = set(
            session.scalars(
                select(StudentRegistrationRow.start_date).where(
                    StudentRegistrationRow.program_id == program,
                    StudentRegistrationRow.student_id != 1,
                )
            )
        )
    assert len(starts) == 1  # one start_date for the whole run: how a revert finds them

    assert lottery.post(f"/v1/lottery-runs/{run_id}/revert", headers=ADMIN).status_code == 202
    reverted = run_reaches(lottery, run_id, "reverted")
    assert reverted["stats"]["revert"]["dropped"] == len(accepted)
    assert roster(system, knots_section) == []
    assert roster(system, origami_section) == [1]  # what the student did themselves stays


def test_a_lunch_program_is_committed_with_no_constraint_failed(system):
    """The ESP lunch rule (``POST .../lunch`` over 12:00 and 13:00): the lottery learns it from
    registration's events, gives lunch to the students it gives a class before and after lunch,
    and commits lunch first, so registration refuses none of the run's enrollments."""
    reg, lottery = system["registration"], system["lottery"]
    program = reg.post(
        "/v1/programs",
        json={"name": "Lunch Splash", "grade_min": 7, "grade_max": 12},
        headers=ADMIN,
    ).json()["id"]
    slots = {
        h: reg.post(
            f"/v1/programs/{program}/timeslots",
            json={"start": f"2026-12-12T{h:02d}:00:00Z", "end": f"2026-12-12T{h:02d}:50:00Z"},
            headers=ADMIN,
        ).json()["id"]
        for h in (10, 12, 13, 15)
    }
    lunch = reg.post(
        f"/v1/programs/{program}/lunch",
        json={"timeslot_ids": [slots[12], slots[13]]},
        headers=ADMIN,
    )
    assert lunch.status_code == 201, lunch.text
    lunch_sections = {s["id"] for c in lunch.json()["classes"] for s in c["sections"]}
    classes = {}
    for title, hour in (("Knots", 10), ("Origami", 15)):
        body = {"title": title, "grade_min": 7, "grade_max": 12}
        body["sections"] = [{"capacity": 30, "timeslot_ids": [slots[hour]]}]
        created = reg.post(f"/v1/programs/{program}/classes", json=body, headers=ADMIN).json()
        classes[title] = (created["id"], created["sections"][0]["id"])
    students = range(101, 121)
    for student in students:
        payload = {"profile_id": student, "program_id": program, "student_id": student}
        payload |= {"grade": 9, "graduation_year": 2029, "school_year": 2026}
        system["publisher"].publish("profile.profiles", profile_completed.event(payload).to_json())
    preferences = {
        "stars": [{"student_id": s, "class_id": c} for s in students for c, _ in classes.values()],
        "priorities": [],
    }
    run_id, done, assigned = solved_run(lottery, program, preferences, seed=3)
    assert done["stats"]["constraint_repairs"] == []  # the solver kept the rule itself
    held: dict[int, set[int]] = {}
    for a in assigned:
        held.setdefault(a["student_id"], set()).add(a["section_id"])
    both = [s for s, mine in held.items() if {classes["Knots"][1], classes["Origami"][1]} <= mine]
    assert len(both) == len(students)  # 30 seats each: every student keeps both classes
    assert all(held[s] & lunch_sections for s in both)  # and takes a lunch period for it

    assert lottery.post(f"/v1/lottery-runs/{run_id}/commit", headers=ADMIN).status_code == 202
    committed = run_reaches(lottery, run_id, "committed")
    assert committed["stats"]["commit"]["rejected"] == 0, committed["stats"]["commit"]
    assert committed["stats"]["commit"]["accepted"] == len(assigned)
    for _, section_id in classes.values():
        assert roster(system, section_id) == sorted(students)
