"""The batched path decides exactly as the one-at-a-time path does, and drains in commit order.

Each scenario is built twice, identically: one copy is decided request by request through
``requests.decide``, the other in batches through ``drain_partition``; the outcomes and the
resulting seats must match exactly.
"""

from __future__ import annotations

import random
import shutil
from datetime import timedelta

import pytest
from registration_service.adapters.db import make_session_factory
from registration_service.adapters.models import (
    outbox,
)
from registration_service.events import OUTCOME_DECIDED as OUTCOME_EVENT
from registration_service.use_cases import requests
from registration_service.use_cases.decisions import enroll
from registration_service.use_cases.drain import drain_partition
from registration_testkit import T0, CatalogBuilder
from sqlalchemy import func, select
from twin_kit import outcomes, seats_state, submit_all

PARTITIONS = 1  # one partition: the whole scenario drains in commit order


@pytest.fixture
def twin_databases(migrated_template, tmp_path):
    """Two identical migrated databases: (engine, sessions) each."""
    made = []
    for name in ("single", "batched"):
        path = tmp_path / f"{name}.sqlite3"
        shutil.copy(migrated_template, path)
        made.append(make_session_factory(f"sqlite:///{path}"))
    yield made
    for engine, _ in made:
        engine.dispose()


def build_scenario(sessions, seed: int) -> list[requests.NewRequest]:
    """A program with a little of everything the rules check, some seats already taken and a
    waitlist; returns the requests to decide, in order: enrolls, and a few drops that free
    seats for the waitlist between batches."""
    rng = random.Random(seed)
    with sessions() as session, session.begin():
        build = CatalogBuilder(session)
        program = build.program(student_capacity=rng.choice([None, 12, 25]))
        slots = [build.timeslot(program, hour) for hour in range(4)]
        sections = []
        for _ in range(5):  # classes of one or two sections
            count = rng.choice([1, 2])
            picked = [[rng.choice(slots)] for _ in range(count)]
            sections += build.sections_of_one_class(program, picked, capacity=rng.randint(1, 4))
        grades = rng.choice([(7, 9), (10, 12)])
        sections.append(build.section(program, [slots[0], slots[1]], capacity=3, grades=grades))
        students = list(range(1, 31))
        for student in students:
            if rng.random() < 0.9:  # a few never completed their profile
                build.complete_profile(program, student, grade=rng.randint(7, 12))
        for student in rng.sample(students, 6):  # seats taken before the rush
            enroll(session, student_id=student, section_id=rng.choice(sections), when=T0)
        for student in rng.sample(students, 6):  # and places in line
            section = rng.choice(sections)
            enroll(session, student_id=student, section_id=section, waitlist=True, when=T0)
    return [
        requests.NewRequest(
            program_id=program,
            student_id=rng.choice(students),
            action="drop" if rng.random() < 0.1 else "enroll",  # drops free seats between batches
            section_id=rng.choice(sections),
            waitlist=rng.random() < 0.3,
            received_at=T0 + timedelta(seconds=index),
        )
        for index in range(80)
    ]


@pytest.mark.parametrize("seed", range(12))
def test_batches_decide_exactly_as_one_at_a_time(twin_databases, seed):
    (_, single), (_, batched) = twin_databases
    ids = {}
    for name, sessions in (("single", single), ("batched", batched)):
        ids[name] = submit_all(sessions, build_scenario(sessions, seed), PARTITIONS)
    for request_id in ids["single"]:
        with single() as session, session.begin():
            requests.decide(session, request_id, when=T0 + timedelta(hours=1))
    drained = drain_partition(batched, 0, batch_size=7, max_batches=100)
    assert drained.decided == 80 and drained.batches >= 80 // 7 and not drained.more
    assert [o[:2] for o in outcomes(batched, ids["batched"])] == [
        o[:2] for o in outcomes(single, ids["single"])
    ]
    assert seats_state(batched) == seats_state(single)


def test_each_batched_decision_publishes_one_outcome(twin_databases):
    _, (_, sessions) = twin_databases
    ids = submit_all(sessions, build_scenario(sessions, 99))
    drain_partition(sessions, 0, batch_size=16, max_batches=100)
    with sessions() as session:
        streams = session.execute(
            select(outbox.c.stream, func.count())
            .where(outbox.c.event_type == OUTCOME_EVENT)
            .group_by(outbox.c.stream)
        ).all()
    per_stream = dict(streams)
    assert per_stream.pop("registration.outcomes") == len(ids)
    assert sum(per_stream.values()) == len(ids)  # and one on each student's own stream


def test_the_first_k_requests_by_commit_order_get_the_k_seats(twin_databases):
    _, (_, sessions) = twin_databases
    with sessions() as session, session.begin():
        build = CatalogBuilder(session)
        program = build.program()
        section = build.section(program, [build.timeslot(program)], capacity=5)
        for student in range(1, 13):
            build.complete_profile(program, student)
    ids = []
    for student in range(1, 13):  # one by one, each committed before the next arrives
        new = requests.NewRequest(
            program_id=program, student_id=student, action="enroll", section_id=section
        )
        ids += submit_all(sessions, [new])
    drained = drain_partition(sessions, 0, batch_size=4, max_batches=10)
    assert drained.batches == 3  # batches of four: larger than one
    statuses = [status for status, *_ in outcomes(sessions, ids)]
    assert statuses == ["accepted"] * 5 + ["rejected"] * 7
