"""Outcomes read back from the database: a student's decided requests and promotions as their
live events carried them (an organiser's promotion without its call's id), and the decided
outcomes announced again on the shared stream only, for a consumer that missed them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from registration_service import announce_outcomes, events
from registration_service.adapters.models import outbox
from registration_service.outcome_fanout import _announced
from registration_service.use_cases import controls, requests
from registration_service.use_cases.outcome_history import decided_outcomes
from registration_service.use_cases.requests import NewRequest
from registration_testkit import CatalogBuilder
from sqlalchemy import delete, select

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def staged(session, *streams: str) -> list[dict]:
    """The SSE data of what is staged for the streams, in order."""
    rows = session.execute(
        select(outbox.c.body).where(outbox.c.stream.in_(streams)).order_by(outbox.c.id)
    )
    envelopes = [json.loads(body) for body in rows.scalars()]
    return [
        e["payload"] | {"event_type": e["event_type"], "correlation_id": e["correlation_id"]}
        for e in envelopes
    ]


def decide(session, program: int, student: int, section: int, **more: object) -> str:
    new = NewRequest(program, student, more.pop("action", "enroll"), section, **more)
    requests.decide(session, requests.submit(session, new, partitions=1).id)
    return new.id


def test_a_students_outcomes_are_read_back_as_their_events_carried_them(session, build):
    program = build.program()
    seat = build.section(program, [build.timeslot(program, 1)], capacity=1)
    other = build.section(program, [build.timeslot(program, 2)])
    for student in (1, 2, 3):
        build.complete_profile(program, student)
    decide(session, program, 1, seat, correlation_id="first-call")
    decide(session, program, 2, seat, waitlist=True)  # the seat is taken: waitlisted
    decide(session, program, 3, seat, waitlist=True)
    decide(session, program, 2, other)
    decide(session, program, 1, seat, action="drop")  # student 2 promoted, by this request
    controls.update_section(session, seat, capacity=2)  # student 3 promoted, by an organiser
    decide(session, program, 3, seat, action="drop")
    for student in (1, 2, 3):
        live = staged(session, events.student_stream(student))
        replayed = decided_outcomes(session, student, EPOCH)
        organiser = [d for d in live if d.get("freed_by_request_id", "") is None]
        for data in organiser:  # its call's id was never stored
            data["correlation_id"] = "-"
        assert replayed == live, student
    assert [d["event_type"] for d in decided_outcomes(session, 3, EPOCH)] == [
        events.OUTCOME_DECIDED,
        events.WAITLIST_PROMOTED,
        events.OUTCOME_DECIDED,
    ]
    later = datetime.now(UTC) + timedelta(seconds=1)
    assert decided_outcomes(session, 1, EPOCH, EPOCH) == []
    assert decided_outcomes(session, 1, later) == []


def test_decided_outcomes_are_announced_again_on_the_shared_stream_only(
    sessions, database_url, monkeypatch, capsys
):
    with sessions() as session, session.begin():
        build = CatalogBuilder(session)
        program = build.program()
        section = build.section(program, [build.timeslot(program)])
        build.complete_profile(program, 4)
        decide(session, program, 4, section)
        decide(session, program, 5, section, origin="lottery-run:3")  # no profile: rejected
        session.execute(delete(outbox))
    monkeypatch.setenv("DATABASE_URL", database_url)
    announce_outcomes.main(["--since", "2000-01-01T00:00:00", "--lottery-only"])
    assert "staged 1 outcomes" in capsys.readouterr().out
    announce_outcomes.main(["--since", "2000-01-01T00:00:00+00:00"])
    with sessions() as session:
        rows = session.execute(select(outbox.c.stream, outbox.c.body).order_by(outbox.c.id)).all()
    assert {stream for stream, _ in rows} == {events.OUTCOMES_STREAM}
    payloads = [json.loads(body)["payload"] for _, body in rows]
    assert [(p["student_id"], p["status"]) for p in payloads] == [
        (5, "rejected"),
        (4, "accepted"),
        (5, "rejected"),
    ]
    # Staged long after its decision: a live page's fan-out has nothing new for its student.
    old = datetime.now(UTC) - timedelta(hours=1)
    bodies = [json.loads(body) for _, body in rows]
    bodies[0]["payload"]["decided_at"] = old.isoformat()
    fields = [{b"envelope": json.dumps(body).encode()} for body in bodies]
    assert [student for student, _ in _announced([(b"1-0", f) for f in fields])] == [4, 5]
