"""``waitlist_limit_per_timeslot``: a student on that many waitlists in a timeslot the section
occupies is refused another one there, alike one request at a time and in a batch."""

from __future__ import annotations

from datetime import timedelta

import pytest
from registration_service.adapters.models import RegistrationRequestRow
from registration_service.domain.reasons import Reason
from registration_service.use_cases import requests
from registration_service.use_cases.drain import drain_partition
from registration_testkit import T0, CatalogBuilder
from sqlalchemy import select

STUDENT = 5


def scenario(sessions, limit: int) -> list[str]:
    """Four full sections: three at 9:00 (one of them spans 9:00 and 10:00), one at 11:00.
    The student asks for a place in line in each, then again in the first."""
    with sessions() as session, session.begin():
        build = CatalogBuilder(session)
        program = build.program(waitlist_limit_per_timeslot=limit)
        nine, ten, eleven = (build.timeslot(program, hour) for hour in (0, 1, 2))
        build.complete_profile(program, STUDENT)
        sections = [
            build.section(program, slots, capacity=0)
            for slots in ([nine], [nine, ten], [nine], [eleven])
        ]
        news = [
            requests.NewRequest(
                program_id=program,
                student_id=STUDENT,
                action="enroll",
                section_id=section,
                waitlist=True,
                received_at=T0 + timedelta(seconds=index),
            )
            for index, section in enumerate([*sections, sections[0]])
        ]
        return [requests.submit(session, new, partitions=1).id for new in news]


def outcomes(sessions, ids: list[str]) -> list[tuple[str | None, str | None]]:
    with sessions() as session:
        rows = {
            r.id: r
            for r in session.scalars(
                select(RegistrationRequestRow).where(RegistrationRequestRow.id.in_(ids))
            )
        }
        return [(rows[i].verb, rows[i].reason) for i in ids]


EXPECTED = {
    1: [
        ("Waitlisted", None),
        (None, Reason.WAITLIST_LIMIT_REACHED),
        (None, Reason.WAITLIST_LIMIT_REACHED),
        ("Waitlisted", None),  # another timeslot
        ("Waitlisted", None),  # asking again keeps the place in line
    ],
    2: [
        ("Waitlisted", None),
        ("Waitlisted", None),
        (None, Reason.WAITLIST_LIMIT_REACHED),
        ("Waitlisted", None),
        ("Waitlisted", None),
    ],
}


@pytest.mark.parametrize("limit", [1, 2])
def test_one_at_a_time(sessions, limit):
    ids = scenario(sessions, limit)
    for request_id in ids:
        with sessions() as session, session.begin():
            requests.decide(session, request_id, when=T0 + timedelta(hours=1))
    assert outcomes(sessions, ids) == EXPECTED[limit]


@pytest.mark.parametrize("limit", [1, 2])
def test_in_one_batch(sessions, limit):
    ids = scenario(sessions, limit)
    drained = drain_partition(sessions, 0, batch_size=10, max_batches=5)
    assert drained.decided == len(ids)
    assert outcomes(sessions, ids) == EXPECTED[limit]


def test_places_taken_before_the_batch_count(sessions):
    ids = scenario(sessions, 1)
    with sessions() as session, session.begin():
        requests.decide(session, ids[0], when=T0 + timedelta(hours=1))
    drain_partition(sessions, 0, batch_size=10, max_batches=5)
    assert outcomes(sessions, ids) == EXPECTED[1]


def test_the_message_names_the_count(sessions):
    ids = scenario(sessions, 2)
    drain_partition(sessions, 0, batch_size=10, max_batches=5)
    with sessions() as session:
        row = session.get(RegistrationRequestRow, ids[2])
        assert row is not None
        assert row.message == (
            "You are already on the waitlist for 2 sections at this time; "
            "leave one to join another."
        )
