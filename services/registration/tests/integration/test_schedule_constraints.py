"""Schedule constraints against a real (SQLite) database: adding them, the lunch generator, and
the rule in every decision path (enroll, switch, drop, waitlist promotion, batches)."""

from __future__ import annotations

import random
import shutil
import threading
from datetime import timedelta

import pytest
from registration_service.adapters.db import make_session_factory
from registration_service.adapters.models import (
    SectionRow,
    StudentRegistrationRow,
)
from registration_service.domain.errors import InvalidInput, NotFound
from registration_service.domain.reasons import Reason
from registration_service.use_cases import constraints, requests
from registration_service.use_cases.decisions import drop, enroll, switch
from registration_service.use_cases.drain import drain_partition
from registration_service.use_cases.lunch import LUNCH_CAPACITY, add_lunch
from registration_testkit import T0, CatalogBuilder
from sqlalchemy import select
from twin_kit import outcomes, seats_state, submit_all

LABEL = "Take a lunch period"
BROKEN = "This would break a rule of the program: Take a lunch period."


def lunch_day(session, build, **program):
    """9:00 and 10:00 before lunch, lunch at 11:00 and 12:00, 13:00 after; a Lunch class with
    a section at 11:00 and one at 12:00, and the rule. Returns the program and its sections."""
    program_id = build.program(**program)
    slots = [build.timeslot(program_id, hour) for hour in range(5)]
    added = add_lunch(session, program_id, [slots[2], slots[3]])
    (lunch_class,) = added.classes
    sections = {
        "early": build.section(program_id, [slots[0]]),
        "before": build.section(program_id, [slots[1]]),
        "lunch": lunch_class.sections[0].id,
        "late_lunch": lunch_class.sections[1].id,
        "after": build.section(program_id, [slots[4]]),
    }
    return program_id, slots, sections


def held(session, program_id, student_id):
    """The sections the student holds a seat in."""
    return sorted(
        session.scalars(
            select(StudentRegistrationRow.section_id).where(
                StudentRegistrationRow.program_id == program_id,
                StudentRegistrationRow.student_id == student_id,
                StudentRegistrationRow.holds_seat.is_(True),
            )
        )
    )


def test_lunch_builds_a_class_per_day_with_its_sections_and_the_rule(session, build):
    program = build.program(student_capacity=300)
    day_one = [build.timeslot(program, hour) for hour in range(4)]  # lunch at 10:00 and 11:00
    day_two = [build.timeslot(program, 24 + hour) for hour in range(2)]  # lunch at 9:00
    added = add_lunch(session, program, [day_one[1], day_one[2], day_two[0]])
    assert [c.title for c in added.classes] == ["Lunch", "Lunch"]
    assert [[t.id for t in s.timeslots] for s in added.classes[0].sections] == [
        [day_one[1]],
        [day_one[2]],
    ]
    assert [s.capacity for c in added.classes for s in c.sections] == [300, 300, 300]
    # Day two has nothing before lunch: no student can need it, so no rule.
    (rule,) = added.constraints
    assert rule.label == LABEL
    assert rule.condition == {
        "all": [{"any": [{"occupied": day_one[0]}]}, {"any": [{"occupied": day_one[3]}]}]
    }
    assert rule.requirement == {"in_sections": [s.id for s in added.classes[0].sections]}
    assert [c.id for c in constraints.list_constraints(session, program)] == [rule.id]


def test_lunch_sections_are_large_and_the_timeslots_must_be_the_programs(session, build):
    program, _, sections = lunch_day(session, build)
    assert session.get(SectionRow, sections["lunch"]).capacity == LUNCH_CAPACITY
    other = build.program()
    with pytest.raises(InvalidInput) as refused:
        add_lunch(session, program, [build.timeslot(other)])
    assert list(refused.value.fields) == ["timeslot_ids.0"]


def test_the_lunch_rule_rejects_and_accepts_as_it_reads(session, build):
    program, _, s = lunch_day(session, build)
    build.complete_profile(program, 5)
    assert enroll(session, student_id=5, section_id=s["before"]).decision.accepted
    refused = enroll(session, student_id=5, section_id=s["after"]).decision
    assert (refused.reason, refused.message) == (Reason.CONSTRAINT_FAILED, BROKEN)
    assert held(session, program, 5) == [s["before"]]
    assert enroll(session, student_id=5, section_id=s["late_lunch"]).decision.accepted
    assert enroll(session, student_id=5, section_id=s["after"]).decision.accepted
    assert held(session, program, 5) == sorted([s["before"], s["late_lunch"], s["after"]])


def test_a_drop_that_breaks_the_rule_is_rejected_and_keeps_the_seat(session, build):
    program, _, s = lunch_day(session, build)
    build.complete_profile(program, 5)
    for section in ("before", "lunch", "after"):
        assert enroll(session, student_id=5, section_id=s[section]).decision.accepted
    refused = drop(session, student_id=5, section_id=s["lunch"]).decision
    assert (refused.reason, refused.message) == (Reason.CONSTRAINT_FAILED, BROKEN)
    assert held(session, program, 5) == sorted([s["before"], s["lunch"], s["after"]])
    assert drop(session, student_id=5, section_id=s["before"]).decision.accepted
    assert drop(session, student_id=5, section_id=s["lunch"]).decision.accepted


def test_a_switch_that_breaks_the_rule_is_rejected(session, build):
    program, slots, s = lunch_day(session, build)
    early, late = build.sections_of_one_class(program, [[slots[0]], [slots[4]]])
    build.complete_profile(program, 5)
    assert enroll(session, student_id=5, section_id=s["before"]).decision.accepted
    assert enroll(session, student_id=5, section_id=early).decision.accepted
    refused = switch(session, student_id=5, from_section_id=early, to_section_id=late).decision
    assert (refused.reason, refused.message) == (Reason.CONSTRAINT_FAILED, BROKEN)
    assert held(session, program, 5) == sorted([early, s["before"]])
    assert enroll(session, student_id=5, section_id=s["lunch"]).decision.accepted
    assert switch(
        session, student_id=5, from_section_id=early, to_section_id=late
    ).decision.accepted


def test_waitlist_promotion_skips_a_student_the_rule_refuses(session, build):
    program, slots, s = lunch_day(session, build)
    after = build.section(program, [slots[4]], capacity=1)
    for student in (1, 2, 3):
        build.complete_profile(program, student)
    assert enroll(session, student_id=1, section_id=after, when=T0).decision.accepted
    assert enroll(session, student_id=2, section_id=s["before"], when=T0).decision.accepted
    for student in (2, 3):  # student 2 is first in line, but holds a class before lunch
        waiting = enroll(session, student_id=student, section_id=after, waitlist=True, when=T0)
        assert waiting.decision.verb == "Waitlisted"
    outcome = drop(session, student_id=1, section_id=after, when=T0 + timedelta(minutes=1))
    assert outcome.promoted_student_ids == (3,)
    assert held(session, program, 2) == [s["before"]]


def test_constraints_are_added_listed_and_removed(session, build):
    program, slots, s = lunch_day(session, build)
    rule = constraints.NewConstraint("Mornings only", None, {"not": {"occupied": slots[4]}})
    added = constraints.create_constraint(session, program, rule)
    build.complete_profile(program, 5)
    refused = enroll(session, student_id=5, section_id=s["after"]).decision
    assert refused.message == "This would break a rule of the program: Mornings only."
    assert [c.label for c in constraints.list_constraints(session, program)] == [LABEL, rule.label]
    constraints.delete_constraint(session, program, added.id)
    assert enroll(session, student_id=5, section_id=s["after"]).decision.accepted
    with pytest.raises(NotFound):
        constraints.delete_constraint(session, program, added.id)


def test_every_id_must_be_the_programs_and_each_error_names_its_path(session, build):
    program, slots, s = lunch_day(session, build)
    other = build.program()
    theirs = build.section(other, [build.timeslot(other)])
    their_class = session.get(SectionRow, theirs).class_id
    requirement = {
        "all": [{"occupied": slots[0]}, {"in_sections": [s["lunch"], theirs]}, {"occupied": "x"}]
    }
    condition = {"any": [{"in_class": their_class}]}
    with pytest.raises(InvalidInput) as refused:
        rule = constraints.NewConstraint("Bad", condition, requirement)
        constraints.create_constraint(session, program, rule)
    assert refused.value.fields == {
        "requirement.all.1.in_sections.1": [f"Section {theirs} is not in program {program}."],
        "requirement.all.2.occupied": ["Must be a timeslot id from 1 to 2147483647."],
        "condition.any.0.in_class": [f"Class {their_class} is not in program {program}."],
    }
    with pytest.raises(NotFound):
        constraints.create_constraint(session, 999, constraints.NewConstraint("x", None, {}))


# Both decision paths, compared: the scenario is built twice and decided one request at a
# time in one database, in batches in the other (as in test_batch_decisions).


@pytest.fixture
def twin_sessions(migrated_template, tmp_path):
    made = []
    for name in ("single", "batched"):
        path = tmp_path / f"{name}.sqlite3"
        shutil.copy(migrated_template, path)
        made.append(make_session_factory(f"sqlite:///{path}"))
    yield {"single": made[0][1], "batched": made[1][1]}
    for engine, _ in made:
        engine.dispose()


def constrained_scenario(sessions, seed: int) -> list[requests.NewRequest]:
    """The lunch day, more classes around it, a rule with no condition, seats already taken
    and places in line; 80 requests (enrolls and some drops) from 20 students."""
    rng = random.Random(seed)
    with sessions() as session, session.begin():
        build = CatalogBuilder(session)
        program, slots, named = lunch_day(session, build)
        sections = list(named.values())
        for _ in range(6):
            picked = [[rng.choice(slots)] for _ in range(rng.choice([1, 2]))]
            sections += build.sections_of_one_class(program, picked, capacity=rng.randint(1, 4))
        classes = [session.get(SectionRow, sid).class_id for sid in sections[-4:]]
        not_both = {"not": {"all": [{"in_class": classes[0]}, {"in_class": classes[-1]}]}}
        rule = constraints.NewConstraint("Not both", None, not_both)
        constraints.create_constraint(session, program, rule)
        students = list(range(1, 21))
        for student in students:
            build.complete_profile(program, student, grade=rng.randint(7, 12))
        for student in rng.sample(students, 6):
            enroll(session, student_id=student, section_id=rng.choice(sections), when=T0)
        for student in rng.sample(students, 4):
            section = rng.choice(sections)
            enroll(session, student_id=student, section_id=section, waitlist=True, when=T0)
    return [
        requests.NewRequest(
            program_id=program,
            student_id=rng.choice(students),
            action="drop" if rng.random() < 0.15 else "enroll",
            section_id=rng.choice(sections),
            waitlist=rng.random() < 0.3,
            received_at=T0 + timedelta(seconds=index),
        )
        for index in range(80)
    ]


@pytest.mark.parametrize("seed", range(6))
def test_batches_keep_the_constraints_exactly_as_one_at_a_time(twin_sessions, seed):
    single, batched = twin_sessions["single"], twin_sessions["batched"]
    news = {name: constrained_scenario(sessions, seed) for name, sessions in twin_sessions.items()}
    ids = {name: submit_all(twin_sessions[name], news[name]) for name in news}
    for request_id in ids["single"]:
        with single() as session, session.begin():
            requests.decide(session, request_id, when=T0 + timedelta(hours=1))
    drain_partition(batched, 0, batch_size=7, max_batches=100)
    decided = outcomes(single, ids["single"])
    assert outcomes(batched, ids["batched"]) == decided
    assert seats_state(batched) == seats_state(single)
    batched_refusals = [
        new.action
        for new, (_, reason, *_) in zip(news["batched"], decided, strict=True)
        if reason == Reason.CONSTRAINT_FAILED
    ]
    assert "enroll" in batched_refusals  # the batches themselves refused some


# One student's two enrolls in two partitions: together they would break the rule.

PARTITIONS = 2


def two_partitions(sessions):
    """The lunch day; student 5 asks for the class before lunch and the one after, in two
    partitions. Returns the two requests' ids."""
    with sessions() as session, session.begin():
        build = CatalogBuilder(session)
        program, _, s = lunch_day(session, build)
        build.complete_profile(program, 5)
        assert s["before"] % PARTITIONS != s["after"] % PARTITIONS
        news = [
            requests.NewRequest(
                program_id=program, student_id=5, action="enroll", section_id=s[name]
            )
            for name in ("before", "after")
        ]
    return submit_all(sessions, news, PARTITIONS), [s["before"] % 2, s["after"] % 2]


def test_two_partitions_one_after_the_other_accept_one_of_the_two(sessions):
    ids, partitions = two_partitions(sessions)
    for partition in reversed(partitions):
        drain_partition(sessions, partition, batch_size=10, max_batches=5)
    assert [
        (status, reason, message) for status, reason, _, message in outcomes(sessions, ids)
    ] == [
        ("rejected", "constraint_failed", BROKEN),
        ("accepted", None, "You are enrolled in this section."),
    ]


def test_two_partitions_at_once_accept_one_of_the_two(sessions):
    ids, partitions = two_partitions(sessions)
    barrier = threading.Barrier(2)

    def drain(partition):
        barrier.wait()
        drain_partition(sessions, partition, batch_size=10, max_batches=5)

    threads = [threading.Thread(target=drain, args=(p,)) for p in partitions]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(status for status, *_ in outcomes(sessions, ids))
    assert statuses == ["accepted", "rejected"]
