"""The fair opening: requests received in the window wait, then are released once, in an order
drawn per student from a recorded seed; later requests are first come, first served."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import redis
from devstack.pipeline import wait_for_a_lock_wait
from registration_service.adapters.db import make_session_factory
from registration_service.adapters.models import RegistrationRequestRow
from registration_service.domain.errors import InvalidInput
from registration_service.messaging import Doorbells, decision_queue, make_celery
from registration_service.migrate import upgrade
from registration_service.settings import RegistrationSettings
from registration_service.use_cases import catalog, controls, opening, requests
from registration_service.use_cases.drain import QUEUED, drain_partition
from registration_service.worker.relay import release_openings
from registration_service.worker.resources import Resources
from registration_testkit import CatalogBuilder
from servicekit.events import StreamPublisher
from sqlalchemy import select, text

WINDOW = 60
OPENS = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)  # closed an hour ago
CLOSES = OPENS + timedelta(seconds=WINDOW)
PARTITIONS = 1


@pytest.fixture
def room(sessions):
    """A program with a 60-second waiting room and six sections of one timeslot each."""
    with sessions() as session, session.begin():
        build = CatalogBuilder(session)
        program = build.program(registration_opens_at=OPENS, opening_window_seconds=WINDOW)
        sections = [build.section(program, [build.timeslot(program, h)]) for h in range(6)]
    return program, sections


def relay_resources(sessions, redis_url: str) -> Resources:
    """What the relay process holds, on the test's database and a real Redis (a database of
    its own, emptied first, so no other test's doorbell is pending)."""
    redis_url = redis_url.rsplit("/", 1)[0] + "/7"
    settings = RegistrationSettings(redis_url=redis_url, decision_partitions=PARTITIONS)
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    celery = make_celery(settings)
    engine = sessions.kw["bind"]
    doorbells = Doorbells(celery, client, settings)
    return Resources(settings, engine, sessions, StreamPublisher(client), celery, client, doorbells)


def rings(res: Resources) -> int:
    """Doorbells waiting in partition 0's queue."""
    return int(res.redis.llen(decision_queue(0)))


def submit(sessions, program, student, section, at, **extra) -> requests.Submitted:
    new = requests.NewRequest(
        program_id=program,
        student_id=student,
        action="enroll",
        section_id=section,
        received_at=at,
        **extra,
    )
    with sessions() as session, session.begin():
        return requests.submit(session, new, partitions=PARTITIONS)


def fill_room(sessions, program, sections, students=range(1, 21)) -> list[str]:
    """Each student sends six requests during the window, interleaved with the others."""
    ids, tick = [], 0
    for index in range(6):
        for student in students:
            tick += 1
            at = OPENS + timedelta(milliseconds=tick)
            submitted = submit(sessions, program, student, sections[index], at)
            assert submitted.status == "waiting" and not submitted.queued
            ids.append(submitted.id)
    return ids


def queue_order(sessions) -> list[tuple[str, int]]:
    """(request id, student) in the order the drainer takes them."""
    with sessions() as session:
        rows = session.execute(QUEUED, {"partition": 0, "limit": 10_000}).all()
    return [(row.id, row.student_id) for row in rows]


def statuses(sessions) -> Counter[str]:
    with sessions() as session:
        return Counter(session.scalars(select(RegistrationRequestRow.status)))


def release(sessions, program, seed=None, now=CLOSES) -> list[int]:
    with sessions() as session, session.begin():
        return opening.release(session, program, seed=seed, now=now)


def test_requests_in_the_window_wait_and_none_is_queued(sessions, room):
    program, sections = room
    fill_room(sessions, program, sections)
    assert statuses(sessions) == {"waiting": 120}
    assert queue_order(sessions) == []


def test_requests_before_opening_wait_and_admin_ones_are_queued(sessions, room):
    program, sections = room
    early = submit(sessions, program, 1, sections[0], OPENS - timedelta(minutes=1))
    placed = submit(sessions, program, 2, sections[0], OPENS, origin="lottery-run:1")
    assert (early.status, placed.status) == ("waiting", "queued")


def test_early_and_in_window_requests_share_one_draw_and_later_ones_queue_behind(sessions, room):
    """Before the opening, in the window and after it: the first two kinds are released in one
    seeded order, one place per student; the last are first come, first served behind them."""
    program, sections = room
    early = [
        submit(sessions, program, s, sections[0], OPENS - timedelta(minutes=s)) for s in (1, 2, 3)
    ]
    in_window = [
        submit(sessions, program, s, sections[1], OPENS + timedelta(seconds=s)) for s in (4, 5, 1)
    ]
    assert {r.status for r in early + in_window} == {"waiting"}
    release(sessions, program, seed=11)
    later = [
        submit(sessions, program, s, sections[2], CLOSES + timedelta(seconds=s)) for s in (6, 7)
    ]
    assert [r.status for r in later] == ["queued", "queued"]
    order = queue_order(sessions)
    students = [1, 2, 3, 4, 5]
    random.Random(11).shuffle(students)
    released = order[:6]
    assert list(dict.fromkeys(student for _, student in released)) == students
    assert [i for i, _ in order[6:]] == [r.id for r in later]
    ones = [i for i, student in released if student == 1]  # student 1's own order is kept
    assert ones == [early[0].id, in_window[2].id]
    with sessions() as session:
        assert opening.get_opening(session, program)["student_order"] == students


def test_the_waiting_room_counts_students_and_requests(sessions, room):
    program, sections = room
    submit(sessions, program, 1, sections[0], OPENS - timedelta(minutes=5))
    submit(sessions, program, 1, sections[1], OPENS + timedelta(seconds=1))
    submit(sessions, program, 2, sections[0], OPENS + timedelta(seconds=2))
    with sessions() as session:
        room_now = opening.get_waiting_room(session, program)
    assert room_now == {
        "releases_at": CLOSES,
        "released_at": None,
        "waiting_students": 2,
        "waiting_requests": 3,
    }
    release(sessions, program, seed=1)
    with sessions() as session:
        after = opening.get_opening(session, program)
    assert (after["waiting_students"], after["waiting_requests"]) == (0, 0)
    assert after["released_at"] is not None and after["seed"] == 1


def test_moving_the_opening_later_keeps_requests_waiting_until_the_new_end(sessions, room):
    program, sections = room
    submit(sessions, program, 1, sections[0], OPENS)
    later = datetime.now(UTC) + timedelta(hours=1)
    with sessions() as session, session.begin():
        controls.update_program(session, program, {"registration_opens_at": later})
    with sessions() as session, session.begin():
        assert opening.release_due(session) == []
        assert opening.release_due(session, now=later + timedelta(seconds=WINDOW)) == [0]
    assert statuses(sessions) == {"queued": 1}


def test_removing_the_window_releases_the_waiting_requests_at_the_next_sweep(sessions, room):
    program, sections = room
    for student in (1, 2, 3):
        submit(sessions, program, student, sections[0], OPENS)
    with sessions() as session, session.begin():
        controls.update_program(
            session, program, {"registration_opens_at": datetime.now(UTC) + timedelta(days=1)}
        )
        controls.update_program(session, program, {"opening_window_seconds": None})
    with sessions() as session, session.begin():
        assert opening.release_due(session) == [0]
    assert statuses(sessions) == {"queued": 3}
    with sessions() as session:
        assert sorted(opening.get_opening(session, program)["student_order"]) == [1, 2, 3]


def test_every_waiting_request_is_released_exactly_once(sessions, room):
    program, sections = room
    ids = fill_room(sessions, program, sections)
    assert release(sessions, program, seed=7) == [0]
    order = queue_order(sessions)
    assert sorted(i for i, _ in order) == sorted(ids)
    assert statuses(sessions) == {"queued": 120}
    assert release(sessions, program, seed=7) == []  # again: nothing is released twice
    assert queue_order(sessions) == order


def test_each_student_keeps_one_place_in_line_and_their_own_order(sessions, room):
    program, sections = room
    ids = fill_room(sessions, program, sections)
    release(sessions, program, seed=3)
    order = queue_order(sessions)
    students = [student for _, student in order]
    runs = [students[i] for i in range(len(students)) if i == 0 or students[i] != students[i - 1]]
    assert len(runs) == 20 and len(set(runs)) == 20  # six in a row each
    with sessions() as session:
        drawn = opening.get_opening(session, program)
    assert drawn["seed"] == 3 and drawn["student_order"] == runs
    for student in range(1, 21):
        own = [i for i, s in order if s == student]
        sent = [i for index, i in enumerate(ids) if index % 20 == student - 1]
        assert own == sent


def test_one_seed_gives_one_order_and_two_seeds_differ(sessions, room):
    program, sections = room
    fill_room(sessions, program, sections)
    with sessions() as session:
        rooms = opening.waiting_rooms(session, {program})
    assert rooms[program].closes_at == CLOSES and not rooms[program].released
    release(sessions, program, seed=11)
    first = [student for _, student in queue_order(sessions)]
    # the same draw, replayed from the recorded seed
    again = list(range(1, 21))
    random.Random(11).shuffle(again)
    assert first[::6] == again
    other = list(range(1, 21))
    random.Random(12).shuffle(other)
    assert other != again


def test_two_seeds_release_two_orders(sessions):
    orders = []
    for seed in (1, 2):
        with sessions() as session, session.begin():
            build = CatalogBuilder(session)
            program = build.program(registration_opens_at=OPENS, opening_window_seconds=WINDOW)
            sections = [build.section(program, [build.timeslot(program, h)]) for h in range(6)]
        fill_room(sessions, program, sections)
        release(sessions, program, seed=seed)
        with sessions() as session:
            orders.append(opening.get_opening(session, program)["student_order"])
    assert sorted(orders[0]) == sorted(orders[1]) == list(range(1, 21))
    assert orders[0] != orders[1]


def test_requests_after_the_window_go_behind_the_released_first_come_first_served(sessions, room):
    program, sections = room
    ids = fill_room(sessions, program, sections, students=range(1, 4))
    late = submit(sessions, program, 9, sections[0], CLOSES)  # not released yet: it waits too
    assert late.status == "waiting"
    release(sessions, program, seed=5)
    later = submit(sessions, program, 8, sections[1], CLOSES + timedelta(seconds=1))
    assert later.status == "queued" and later.queued
    order = [i for i, _ in queue_order(sessions)]
    assert sorted(order[: len(ids)]) == sorted(ids)
    assert order[len(ids) :] == [late.id, later.id]


def test_the_sweeper_releases_a_due_opening_once_and_rings(sessions, room, redis_server):
    program, sections = room
    fill_room(sessions, program, sections, students=range(1, 4))
    with sessions() as session, session.begin():  # the window is still open: nothing due
        assert opening.release_due(session, now=CLOSES - timedelta(microseconds=1)) == []
    res = relay_resources(sessions, redis_server.url)
    assert release_openings(res) == [0]  # the window closed an hour ago
    assert rings(res) == 1 and statuses(sessions) == {"queued": 18}
    assert release_openings(res) == [] and rings(res) == 1
    with sessions() as session:
        drawn = opening.get_opening(session, program)
    assert drawn["seed"] is not None and drawn["released_at"] is not None
    assert sorted(drawn["student_order"]) == [1, 2, 3]


def test_a_request_stored_waiting_after_the_release_is_queued_by_the_next_sweep(sessions, room):
    program, sections = room
    release(sessions, program, seed=1)
    straggler = requests.NewRequest(
        program_id=program, student_id=4, action="enroll", section_id=sections[0]
    )
    with sessions() as session, session.begin():  # as if stored while the release ran
        requests.submit_many(session, [straggler], partitions=PARTITIONS)
        session.get(RegistrationRequestRow, straggler.id).status = "waiting"
    with sessions() as session, session.begin():
        assert opening.release_due(session) == [0]
    assert statuses(sessions) == {"queued": 1}


def test_the_window_needs_an_opening_time(session, build):
    with pytest.raises(InvalidInput) as refused:
        catalog.create_program(
            session,
            catalog.NewProgram(name="Splash", grade_min=7, grade_max=12, opening_window_seconds=9),
        )
    assert "opening_window_seconds" in refused.value.fields
    program = build.program(registration_opens_at=OPENS, opening_window_seconds=WINDOW)
    with pytest.raises(InvalidInput) as refused:
        controls.update_program(session, program, {"registration_opens_at": None})
    assert "opening_window_seconds" in refused.value.fields


@pytest.mark.postgres
def test_release_and_drain_on_postgresql(postgres_server, redis_server):
    """The release's statements on PostgreSQL: the opening row's lock, the executemany, the
    seed's 64-bit column; then the drainer decides each released request once, in line."""
    url = postgres_server.create_database(f"opening_{uuid.uuid4().hex[:10]}")
    upgrade(url)
    engine, sessions = make_session_factory(url)
    try:
        with sessions() as session, session.begin():
            build = CatalogBuilder(session)
            program = build.program(registration_opens_at=OPENS, opening_window_seconds=WINDOW)
            sections = [build.section(program, [build.timeslot(program, h)]) for h in range(6)]
        ids = fill_room(sessions, program, sections, students=range(1, 6))
        res = relay_resources(sessions, redis_server.url)
        assert release_openings(res) == [0] and release_openings(res) == []
        assert rings(res) == 1
        order = queue_order(sessions)
        assert sorted(i for i, _ in order) == sorted(ids)
        with sessions() as session:
            drawn = opening.get_opening(session, program)
        assert drawn["student_order"] == [student for _, student in order][::6]
        assert drain_partition(sessions, 0, batch_size=50, max_batches=10).decided == len(ids)
        assert statuses(sessions) == {"rejected": len(ids)}  # no profiles: decided, once each
    finally:
        engine.dispose()


RELEASING_PROCESS = """
import sys
from registration_service.adapters.db import make_session_factory
from registration_service.use_cases.opening import release_due
engine, sessions = make_session_factory(sys.argv[1])
with sessions() as session, session.begin():
    release_due(session)
"""


@pytest.mark.postgres
def test_a_release_killed_in_the_middle_loses_nothing_and_doubles_nothing(postgres_server):
    """The releasing process is killed (-9) inside its transaction: the server rolls it back,
    every request is still waiting, and the next sweep releases each exactly once."""
    url = postgres_server.create_database(f"opening_{uuid.uuid4().hex[:10]}")
    upgrade(url)
    engine, sessions = make_session_factory(url)
    try:
        with sessions() as session, session.begin():
            build = CatalogBuilder(session)
            program = build.program(registration_opens_at=OPENS, opening_window_seconds=WINDOW)
            sections = [build.section(program, [build.timeslot(program, h)]) for h in range(6)]
        ids = fill_room(sessions, program, sections, students=range(1, 6))
        with sessions() as blocker, blocker.begin():  # one request locked: the release stops
            blocker.scalars(
                select(RegistrationRequestRow)
                .where(RegistrationRequestRow.id == ids[-1])
                .with_for_update()
            ).one()
            pid = blocker.scalar(text("SELECT pg_backend_pid()"))
            releasing = subprocess.Popen([sys.executable, "-c", RELEASING_PROCESS, url])
            try:
                wait_for_a_lock_wait(engine, blocker=pid)  # inside its transaction, mid-way
            finally:
                os.kill(releasing.pid, signal.SIGKILL)
                releasing.wait()
        assert statuses(sessions) == {"waiting": len(ids)}
        with sessions() as session:
            assert opening.get_opening(session, program)["seed"] is None
        with sessions() as session, session.begin():
            assert opening.release_due(session) == [0]
        assert statuses(sessions) == {"queued": len(ids)}
        assert sorted(i for i, _ in queue_order(sessions)) == sorted(ids)
    finally:
        engine.dispose()
