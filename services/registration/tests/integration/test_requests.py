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
from registration_service.use_cases import requests
from registration_service.use_cases.requests import NewRequest
from sqlalchemy import delete, select


def new(program, section, **changes):
    values = {"program_id": program, "student_id": 5, "action": "enroll", "section_id": section}
    return NewRequest(**(values | changes))


def test_the_same_key_returns_the_same_request(session, build):
    program = build.program()
    section = build.section(program, [build.timeslot(program)])
    first, created = requests.submit(session, new(program, section, idempotency_key="k1"))
    again, created_again = requests.submit(session, new(program, section, idempotency_key="k1"))
    other_student, _ = requests.submit(
        session, new(program, section, student_id=6, idempotency_key="k1")
    )
    assert (created, created_again) == (True, False)
    assert again.id == first.id and other_student.id != first.id
    with pytest.raises(requests.IdempotencyKeyReused):
        requests.submit(session, new(program, section, action="drop", idempotency_key="k1"))


def test_unknown_or_foreign_sections_are_refused_before_anything_is_stored(session, build):
    program, other = build.program(), build.program()
    foreign = build.section(other, [build.timeslot(other)])
    with pytest.raises(NotFound):
        requests.submit(session, new(program, 999))
    with pytest.raises(InvalidInput) as refused:
        requests.submit(session, new(program, foreign))
    assert list(refused.value.fields) == ["section_id"]
    assert session.scalars(select(RegistrationRequestRow)).all() == []


def test_a_request_is_decided_once_and_its_outcome_is_staged_for_publishing(session, build):
    program = build.program()
    section = build.section(program, [build.timeslot(program)])
    build.complete_profile(program, 5)
    row, _ = requests.submit(session, new(program, section))
    decided = requests.decide(session, row.id)
    assert (decided.status, decided.verb, decided.reason) == ("accepted", "Enrolled", None)
    assert requests.decide(session, row.id) is None  # a redelivered task does nothing
    outcome_events = select(outbox.c.stream).where(outbox.c.event_type == requests.OUTCOME_EVENT)
    streams = sorted(session.scalars(outcome_events))
    assert streams == ["registration.outcomes", "registration.outcomes.student.5"]


def test_a_request_whose_section_was_removed_ends_rejected(session, build):
    program = build.program()
    section = build.section(program, [build.timeslot(program)])
    row, _ = requests.submit(session, new(program, section))
    session.execute(delete(section_timeslots).where(section_timeslots.c.section_id == section))
    session.execute(delete(SectionRow).where(SectionRow.id == section))
    decided = requests.decide(session, row.id)
    assert (decided.status, decided.reason) == ("rejected", "section_removed")


def test_stale_queued_requests_are_found_and_marked_resent(session, build):
    program = build.program()
    section = build.section(program, [build.timeslot(program)])
    row, _ = requests.submit(session, new(program, section))
    assert requests.stale_requests(session, timedelta(seconds=30)) == []
    requests.get_request(session, row.id).enqueued_at -= timedelta(minutes=1)
    session.flush()
    assert requests.stale_requests(session, timedelta(seconds=30)) == [(row.id, section)]
    requests.mark_resent(session, [row.id])
    assert requests.stale_requests(session, timedelta(seconds=30)) == []
