"""Priority mode against a real (SQLite) database: both decision paths record ``Priority/N``
choices that hold no seat, drops expire them, and the priority query agrees."""

from __future__ import annotations

import json
import random
import shutil
from datetime import UTC, datetime, timedelta

import pytest
from registration_service.adapters.db import make_session_factory
from registration_service.adapters.models import (
    ProgramRow,
    SectionRow,
    StudentRegistrationRow,
    TimeslotOccupancyRow,
    outbox,
)
from registration_service.events import OUTCOME_DECIDED
from registration_service.use_cases import queries, requests
from registration_service.use_cases.decisions import drop, enroll
from registration_service.use_cases.drain import drain_partition
from registration_testkit import T0, CatalogBuilder
from sqlalchemy import func, select
from twin_kit import outcomes, seats_state

LATER = T0 + timedelta(hours=1)


def verbs_of(outcomes):
    return [(o.decision.accepted, o.decision.verb or o.decision.reason) for o in outcomes]


def test_three_choices_in_one_timeslot_are_priority_1_2_3_and_hold_no_seat(session, build):
    program = build.program(use_priority=True, student_capacity=1)
    slot = build.timeslot(program)
    sections = [build.section(program, [slot], capacity=1) for _ in range(3)]
    build.complete_profile(program, 1)
    outcomes = [enroll(session, student_id=1, section_id=s, when=T0) for s in sections]
    assert verbs_of(outcomes) == [(True, "Priority/1"), (True, "Priority/2"), (True, "Priority/3")]
    assert all(o.registration_id is not None for o in outcomes)
    assert session.scalars(select(SectionRow.enrolled_count)).all() == [0, 0, 0]
    assert session.scalar(select(func.count()).select_from(TimeslotOccupancyRow)) == 0
    assert session.scalar(select(ProgramRow.student_count)) == 0
    assert not session.scalars(select(StudentRegistrationRow.holds_seat)).all().count(True)
    assert queries.registration_priority(session, program, 1, [slot], when=LATER) == 4
    # A full section (capacity 1) still takes everyone's choice: no seat is held.
    build.complete_profile(program, 2)
    assert verbs_of([enroll(session, student_id=2, section_id=sections[0], when=T0)]) == [
        (True, "Priority/1")
    ]


def test_past_the_limit_the_choice_is_rejected(session, build):
    program = build.program(use_priority=True, priority_limit=2)
    slot = build.timeslot(program)
    sections = [build.section(program, [slot]) for _ in range(3)]
    build.complete_profile(program, 1)
    outcomes = [enroll(session, student_id=1, section_id=s, when=T0) for s in sections]
    assert verbs_of(outcomes) == [
        (True, "Priority/1"),
        (True, "Priority/2"),
        (False, "priority_limit_reached"),
    ]
    assert outcomes[2].decision.message == "You may choose up to 2 classes per timeslot."


def test_already_chosen_class_and_enrolled_timeslot(session, build):
    program = build.program(use_priority=True)
    slot, other = build.timeslot(program, 0), build.timeslot(program, 1)
    a, b = build.sections_of_one_class(program, [[slot], [other]])
    build.complete_profile(program, 1)
    assert enroll(session, student_id=1, section_id=a, when=T0).decision.verb == "Priority/1"
    again = enroll(session, student_id=1, section_id=b, when=T0).decision
    assert again.reason == "already_in_class"
    # A seat placed by an admin process (a lottery commit) is a seat, and then priority is 0.
    seated = build.section(program, [other])
    placed = enroll(session, student_id=1, section_id=seated, when=T0, placed_by_admin=True)
    assert placed.decision.verb == "Enrolled"
    assert queries.registration_priority(session, program, 1, [other], when=LATER) == 0
    late = build.section(program, [other])
    assert enroll(session, student_id=1, section_id=late, when=T0).decision.reason == (
        "time_conflict"
    )


def test_a_drop_expires_the_choice_and_the_next_takes_the_free_level(session, build):
    program = build.program(use_priority=True)
    slot = build.timeslot(program)
    sections = [build.section(program, [slot]) for _ in range(4)]
    build.complete_profile(program, 1)
    for s in sections[:3]:
        enroll(session, student_id=1, section_id=s, when=T0)
    dropped = drop(session, student_id=1, section_id=sections[0], when=T0 + timedelta(minutes=1))
    assert (dropped.decision.accepted, dropped.decision.verb) == (True, "Priority/1")
    again = drop(session, student_id=1, section_id=sections[0], when=T0 + timedelta(minutes=2))
    assert again.decision.reason == "not_registered"
    left = queries.student_sections(session, program, 1, when=LATER)
    assert [(s.section_id, s.verb) for s in left] == [
        (sections[1], "Priority/2"),  # not renumbered
        (sections[2], "Priority/3"),
    ]
    assert queries.registration_priority(session, program, 1, [slot], when=LATER) == 1
    fourth = enroll(session, student_id=1, section_id=sections[3], when=LATER)
    assert fourth.decision.verb == "Priority/1"


# --- the batch path decides as the single path does ------------------------------------------


@pytest.fixture
def twin_databases(migrated_template, tmp_path):
    made = []
    for name in ("single", "batched"):
        path = tmp_path / f"{name}.sqlite3"
        shutil.copy(migrated_template, path)
        made.append(make_session_factory(f"sqlite:///{path}"))
    yield [sessions for _, sessions in made]
    for engine, _ in made:
        engine.dispose()


def build_scenario(sessions, seed: int) -> list[requests.NewRequest]:
    rng = random.Random(seed)
    with sessions() as session, session.begin():
        build = CatalogBuilder(session)
        program = build.program(use_priority=True, priority_limit=rng.choice([None, 2, 3]))
        slots = [build.timeslot(program, hour) for hour in range(3)]
        sections = []
        for _ in range(6):
            count = rng.choice([1, 2])
            picked = [[rng.choice(slots)] for _ in range(count)]
            sections += build.sections_of_one_class(program, picked, capacity=rng.randint(0, 2))
        sections.append(build.section(program, [slots[0], slots[1]], grades=(10, 12)))
        students = list(range(1, 11))
        for student in students:
            if rng.random() < 0.9:
                build.complete_profile(program, student, grade=rng.randint(7, 12))
        for student in rng.sample(students, 3):  # seats a lottery placed before
            section = rng.choice(sections)
            enroll(session, student_id=student, section_id=section, when=T0, placed_by_admin=True)
        for student in rng.sample(students, 4):  # and choices made before
            enroll(session, student_id=student, section_id=rng.choice(sections), when=T0)
    return [
        requests.NewRequest(
            program_id=program,
            student_id=rng.choice(students),
            action="drop" if rng.random() < 0.15 else "enroll",
            section_id=rng.choice(sections),
            received_at=T0 + timedelta(seconds=index),
        )
        for index in range(60)
    ]


@pytest.mark.parametrize("seed", range(8))
def test_batches_decide_priorities_exactly_as_one_at_a_time(twin_databases, seed):
    single, batched = twin_databases
    ids = {}
    for name, sessions in (("single", single), ("batched", batched)):
        news = build_scenario(sessions, seed)
        with sessions() as session, session.begin():
            ids[name] = [requests.submit(session, new, partitions=1).id for new in news]
    for request_id in ids["single"]:
        with single() as session, session.begin():
            requests.decide(session, request_id, when=LATER)
    drained = drain_partition(batched, 0, batch_size=7, max_batches=100)
    assert drained.decided == 60 and not drained.more
    expected = outcomes(single, ids["single"])
    assert outcomes(batched, ids["batched"]) == expected
    assert seats_state(batched) == seats_state(single)
    assert any(verb and verb.startswith("Priority/") for *_, verb, _ in expected)


def test_two_choices_of_one_student_in_one_batch_get_1_and_2(twin_databases):
    _, sessions = twin_databases
    with sessions() as session, session.begin():
        build = CatalogBuilder(session)
        program = build.program(use_priority=True, priority_limit=2)
        slot = build.timeslot(program)
        sections = [build.section(program, [slot], capacity=0) for _ in range(3)]
        build.complete_profile(program, 1)
        news = [
            requests.NewRequest(
                program_id=program,
                student_id=1,
                action="enroll",
                section_id=s,
                received_at=T0 + timedelta(seconds=i),
            )
            for i, s in enumerate(sections)
        ]
        ids = [requests.submit(session, new, partitions=1).id for new in news]
    drained = drain_partition(sessions, 0, batch_size=10, max_batches=10)
    assert drained.decided == 3 and drained.batches == 1
    decided = outcomes(sessions, ids)
    registrations, counts, occupied, students = seats_state(sessions)
    assert [(status, reason, verb) for status, reason, verb, _ in decided] == [
        ("accepted", None, "Priority/1"),
        ("accepted", None, "Priority/2"),
        ("rejected", "priority_limit_reached", None),
    ]
    assert decided[2][3] == "You may choose up to 2 classes per timeslot."
    assert [holds for *_, holds in registrations] == [False, False]
    assert (counts, occupied, students) == ([(s, 0) for s in sections], [], 0)
    with sessions() as session:
        bodies = session.scalars(
            select(outbox.c.body).where(
                outbox.c.event_type == OUTCOME_DECIDED, outbox.c.stream == "registration.outcomes"
            )
        ).all()
    verbs = [json.loads(body)["payload"].get("verb") for body in bodies]
    assert verbs[:2] == ["Priority/1", "Priority/2"]
    # The drainer decides on the wall clock, so its registrations start now, not at T0.
    soon = datetime.now(UTC) + timedelta(hours=1)
    with sessions() as session:
        assert queries.registration_priority(session, program, 1, [slot], when=soon) == 3
