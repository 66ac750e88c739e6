"""Registration requests: persisted once per key, decided once, swept when stale."""

from datetime import timedelta

import pytest
from registration_service.adapters.models import (
    RegistrationRequestRow,
    SectionRow,
    outbox,
    section_timeslots,
)
from registration_service.domain.errors import InvalidInput, NotFound
from registration_service.events import OUTCOME_DECIDED as OUTCOME_EVENT
from registration_service.use_cases import requests
from registration_service.use_cases.requests import NewRequest
from sqlalchemy import delete, event, func, select

PARTITIONS = 4


def submit(session, new_request):
    return requests.submit(session, new_request, partitions=PARTITIONS)


def new(program, section, **changes):
    values = {"program_id": program, "student_id": 5, "action": "enroll", "section_id": section}
    return NewRequest(**(values | changes))


def test_the_same_key_returns_the_same_request(session, build):
    program = build.program()
    section = build.section(program, [build.timeslot(program)])
    first = submit(session, new(program, section, idempotency_key="k1"))
    again = submit(session, new(program, section, idempotency_key="k1"))
    other_student = submit(session, new(program, section, student_id=6, idempotency_key="k1"))
    assert (first.created, again.created) == (True, False)
    assert again.id == first.id and other_student.id != first.id
    with pytest.raises(requests.IdempotencyKeyReused):
        submit(session, new(program, section, action="drop", idempotency_key="k1"))


def test_unknown_or_foreign_sections_are_refused_before_anything_is_stored(session, build):
    program, other = build.program(), build.program()
    foreign = build.section(other, [build.timeslot(other)])
    with pytest.raises(NotFound):
        submit(session, new(program, 999))
    with pytest.raises(InvalidInput) as refused:
        submit(session, new(program, foreign))
    assert list(refused.value.fields) == ["section_id"]
    assert session.scalars(select(RegistrationRequestRow)).all() == []


def test_a_programs_sections_are_learnt_at_its_first_request(session, build):
    """The opening minute meets every section for the first time: one read learns them all."""
    program = build.program()
    slots = [build.timeslot(program) for _ in range(3)]
    sections = [build.section(program, [slot]) for slot in slots]
    statements: list[str] = []
    engine = session.get_bind().engine

    def seen(conn, cursor, statement, *args):
        if "FROM sections" in statement:
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        for student, section in enumerate(sections, start=1):
            submit(session, new(program, section, student_id=student))
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert len(statements) == 1
    late = build.section(program, [slots[0]])  # added after: a miss reads the program again
    assert submit(session, new(program, late, student_id=9)).created


def test_a_request_is_decided_once_and_its_outcome_is_staged_for_publishing(session, build):
    program = build.program()
    section = build.section(program, [build.timeslot(program)])
    build.complete_profile(program, 5)
    row = submit(session, new(program, section))
    decided = requests.decide(session, row.id)
    assert (decided.status, decided.verb, decided.reason) == ("accepted", "Enrolled", None)
    assert requests.decide(session, row.id) is None  # a redelivered task does nothing
    outcome_events = select(outbox.c.stream).where(outbox.c.event_type == OUTCOME_EVENT)
    streams = sorted(session.scalars(outcome_events))
    assert streams == ["registration.outcomes", "registration.outcomes.student.5"]


def test_a_request_whose_section_was_removed_ends_rejected(session, build):
    program = build.program()
    section = build.section(program, [build.timeslot(program)])
    row = submit(session, new(program, section))
    session.execute(delete(section_timeslots).where(section_timeslots.c.section_id == section))
    session.execute(delete(SectionRow).where(SectionRow.id == section))
    decided = requests.decide(session, row.id)
    assert (decided.status, decided.reason) == ("rejected", "section_removed")


def test_partitions_with_stale_requests_are_found_and_misplaced_requests_moved(session, build):
    program = build.program()
    section = build.section(program, [build.timeslot(program)])
    row = submit(session, new(program, section))
    assert requests.stale_partitions(session, timedelta(seconds=30), PARTITIONS) == []
    stored = requests.get_request(session, row.id)
    stored.enqueued_at -= timedelta(minutes=1)
    stored.decision_partition = PARTITIONS + 1  # stored before DECISION_PARTITIONS changed
    session.flush()
    assert requests.stale_partitions(session, timedelta(seconds=30), PARTITIONS) == [
        section % PARTITIONS
    ]
    session.refresh(stored)
    assert stored.decision_partition == section % PARTITIONS


def test_one_insert_stores_a_group_and_answers_each_request_in_order(session, build):
    program = build.program()
    section = build.section(program, [build.timeslot(program)])
    first = submit(session, new(program, section, idempotency_key="a"))
    group = [
        new(program, section, student_id=7, idempotency_key="b"),
        new(program, section, idempotency_key="a"),  # a replay of the first
        new(program, section, action="drop", idempotency_key="a"),  # the key, reused
        new(program, section, student_id=7, idempotency_key="b"),  # the same key, same group
        new(program, section, student_id=8),
    ]
    results = requests.submit_many(session, group, partitions=PARTITIONS)
    assert results[0].created and results[4].created
    assert (results[1].id, results[1].created) == (first.id, False)
    assert isinstance(results[2], requests.IdempotencyKeyReused)
    assert (results[3].id, results[3].created) == (results[0].id, False)
    assert session.scalar(select(func.count()).select_from(RegistrationRequestRow)) == 3


def test_an_unknown_action_raises_instead_of_being_taken_for_a_switch(session, build):
    program = build.program()
    section = build.section(program, [build.timeslot(program)])
    row = submit(session, new(program, section))
    requests.get_request(session, row.id).action = "join"  # stored by some older, buggier code
    session.flush()
    with pytest.raises(ValueError, match="join"):
        requests.decide(session, row.id)
