"""The registration service emits payloads shaped like its golden examples, on the streams its
``events.py`` declares: catalog events, and outcomes whichever path (one request at a time or a
batch) decided them. Changing a payload field fails here first."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from marshmallow import ValidationError
from registration_service import events
from registration_service.adapters.models import outbox
from registration_service.use_cases import catalog, constraints, lunch, requests
from registration_service.use_cases.batch_decisions import decide_enrollments
from registration_service.use_cases.batch_snapshot import QueuedEnroll
from registration_service.use_cases.decisions import enroll
from registration_service.use_cases.outcomes import DecidedRequest
from registration_testkit import CatalogBuilder


def _program(golden, event_type: str) -> catalog.NewProgram:
    example = golden(event_type)
    return catalog.NewProgram(
        name=example["name"],
        grade_min=example["grade_min"],
        grade_max=example["grade_max"],
        student_capacity=example["student_capacity"],
        use_priority=example["use_priority"],
        priority_limit=example["priority_limit"],
        registration_opens_at=datetime.fromisoformat(example["registration_opens_at"]),
        registration_closes_at=datetime.fromisoformat(example["registration_closes_at"]),
        opening_window_seconds=example["opening_window_seconds"],
        waitlist_limit_per_timeslot=example["waitlist_limit_per_timeslot"],
    )


def test_a_created_program_is_announced_like_the_golden(
    registration_session, golden, like_golden, staged
):
    program = catalog.create_program(registration_session, _program(golden, events.PROGRAM_CREATED))
    [(stream, payload)] = staged(registration_session, outbox, events.PROGRAM_CREATED)
    assert stream == events.CATALOG_STREAM
    like_golden(payload, events.PROGRAM_CREATED, id=program.id)


def test_programs_announced_again_look_like_the_golden(
    registration_session, golden, like_golden, staged
):
    program = catalog.create_program(registration_session, _program(golden, events.PROGRAM_UPDATED))
    registration_session.flush()
    registration_session.expire_all()  # announced as read back from the database
    assert catalog.announce_programs(registration_session) == 1
    [(stream, payload)] = staged(registration_session, outbox, events.PROGRAM_UPDATED)
    assert stream == events.CATALOG_STREAM
    like_golden(payload, events.PROGRAM_UPDATED, id=program.id)


def test_a_new_timeslot_is_announced_like_the_golden(
    registration_session, golden, like_golden, staged
):
    example = golden(events.TIMESLOT_CREATED)
    program = CatalogBuilder(registration_session).program()
    start, end = (datetime.fromisoformat(example[name]) for name in ("start", "end"))
    timeslot = catalog.add_timeslot(registration_session, program, start, end)
    [(stream, payload)] = staged(registration_session, outbox, events.TIMESLOT_CREATED)
    assert stream == events.CATALOG_STREAM
    like_golden(payload, events.TIMESLOT_CREATED, id=timeslot.id, program_id=program)


def _golden_class(session, golden, event_type: str) -> tuple[int, int, list[dict]]:
    """The golden class built through the use cases (each section's timeslots given in reverse
    order): (program, class, its sections as the payload must list them)."""
    example = golden(event_type)
    program = CatalogBuilder(session).program()
    timeslots = {}  # the golden's timeslot id -> ours, created in the golden's time order
    for hour, golden_id in enumerate(
        sorted({t for s in example["sections"] for t in s["timeslot_ids"]})
    ):
        start = datetime.fromisoformat("2026-12-12T09:00:00+00:00") + timedelta(hours=hour)
        timeslots[golden_id] = catalog.add_timeslot(
            session, program, start, start + timedelta(minutes=50)
        ).id
    new_sections = [
        catalog.NewSection(s["capacity"], tuple(timeslots[t] for t in reversed(s["timeslot_ids"])))
        for s in example["sections"]
    ]
    class_ = catalog.add_class(
        session, program, example["title"], example["grade_min"], example["grade_max"], new_sections
    )
    sections = [
        s | {"id": row.id, "timeslot_ids": [timeslots[t] for t in s["timeslot_ids"]]}
        for s, row in zip(example["sections"], class_.sections, strict=True)
    ]
    return program, class_.id, sections


def test_a_new_class_is_announced_like_the_golden(
    registration_session, golden, like_golden, staged
):
    program, class_id, sections = _golden_class(registration_session, golden, events.CLASS_CREATED)
    [(stream, payload)] = staged(registration_session, outbox, events.CLASS_CREATED)
    assert stream == events.CATALOG_STREAM
    generated = {"id": class_id, "program_id": program, "sections": sections}
    like_golden(payload, events.CLASS_CREATED, **generated)


def test_classes_announced_again_look_like_the_golden(
    registration_session, golden, like_golden, staged
):
    session = registration_session
    program, class_id, sections = _golden_class(session, golden, events.CLASS_UPDATED)
    session.flush()
    session.expire_all()  # announced as read back from the database
    assert catalog.announce_programs(session) == 1
    [(stream, payload)] = staged(session, outbox, events.CLASS_UPDATED)
    assert stream == events.CATALOG_STREAM
    generated = {"id": class_id, "program_id": program, "sections": sections}
    like_golden(payload, events.CLASS_UPDATED, **generated)
    assert len(staged(session, outbox, events.TIMESLOT_CREATED)) == 2 * 4  # created, announced


def _queued_enroll(
    session, golden, origin: str | None = None
) -> tuple[requests.Submitted, int, int, datetime]:
    """The golden outcome's request, stored and queued: (request, program, section, when)."""
    example = golden(events.OUTCOME_DECIDED)
    build = CatalogBuilder(session)
    program = build.program()
    section = build.section(program, [build.timeslot(program)])
    build.complete_profile(program, example["student_id"])
    new = requests.NewRequest(
        program_id=program,
        student_id=example["student_id"],
        action=example["action"],
        section_id=section,
        id=example["id"],
        origin=origin,
    )
    submitted = requests.submit(session, new, partitions=1)
    return submitted, program, section, datetime.fromisoformat(example["decided_at"])


def _decide(session, golden, path: str, origin: str | None = None) -> tuple[int, int]:
    """Decide the golden outcome's request on ``path``: (program, section)."""
    submitted, program, section, when = _queued_enroll(session, golden, origin)
    if path == "one_at_a_time":
        requests.decide(session, submitted.id, when=when)
    else:
        student = golden(events.OUTCOME_DECIDED)["student_id"]
        queued = QueuedEnroll(submitted.id, program, student, section, False, origin=origin)
        decide_enrollments(session, [queued], when)
    return program, section


@pytest.mark.parametrize("path", ["one_at_a_time", "batch"])
def test_an_outcome_looks_like_the_golden_whichever_path_decided_it(
    registration_session, golden, like_golden, staged, path
):
    session = registration_session
    program, section = _decide(session, golden, path)
    written = staged(session, outbox, events.OUTCOME_DECIDED)
    student = golden(events.OUTCOME_DECIDED)["student_id"]
    assert [stream for stream, _ in written] == [  # the student's first: see outcome_fanout
        events.student_stream(student),
        events.OUTCOMES_STREAM,
    ]
    assert written[0][1] == written[1][1]
    like_golden(written[0][1], events.OUTCOME_DECIDED, program_id=program, section_id=section)


@pytest.mark.parametrize("path", ["one_at_a_time", "batch"])
def test_an_outcome_names_the_admin_process_that_placed_its_request(
    registration_session, golden, staged, path
):
    program, section = _decide(registration_session, golden, path, origin="lottery-run:17")
    [(_, payload), _] = staged(registration_session, outbox, events.OUTCOME_DECIDED)
    expected = {"program_id": program, "section_id": section, "origin": "lottery-run:17"}
    assert payload == golden(events.OUTCOME_DECIDED) | expected


def test_a_promotion_from_the_waitlist_looks_like_the_golden(
    registration_session, golden, like_golden, staged
):
    session = registration_session
    example = golden(events.WAITLIST_PROMOTED)
    promoted, when = example["student_id"], datetime.fromisoformat(example["decided_at"])
    build = CatalogBuilder(session)
    program = build.program()
    section = build.section(program, [build.timeslot(program)], capacity=1)
    for student in (41, promoted):
        build.complete_profile(program, student)
    enroll(session, student_id=41, section_id=section, when=when - timedelta(minutes=5))
    enroll(session, student_id=promoted, section_id=section, waitlist=True, when=when)
    drop = requests.NewRequest(program_id=program, student_id=41, action="drop", section_id=section)
    freed_by = requests.submit(session, drop, partitions=1).id
    requests.decide(session, freed_by, when=when)
    written = staged(session, outbox, events.WAITLIST_PROMOTED)
    assert [stream for stream, _ in written] == [
        events.student_stream(promoted),
        events.OUTCOMES_STREAM,
    ]
    message = example["message"].replace(example["freed_by_request_id"], freed_by)
    like_golden(
        written[0][1],
        events.WAITLIST_PROMOTED,
        program_id=program,
        section_id=section,
        freed_by_request_id=freed_by,
        message=message,
    )


def test_a_wrong_payload_fails_loudly_before_it_is_staged(golden):
    example = golden(events.OUTCOME_DECIDED)
    decided = DecidedRequest(
        **(example | {"decided_at": datetime.fromisoformat(example["decided_at"])})
    )
    assert events.outcome_decided.event(decided).payload == example
    for wrong, field in (
        ({"program_id": "1"}, "program_id"),  # a string where an integer belongs
        ({"status": None}, "status"),  # null where the contract promises a value
        ({"decided_at": datetime(2026, 12, 5, 9)}, "decided_at"),  # no time zone
    ):
        with pytest.raises(ValidationError) as refused:
            events.outcome_decided.event(decided.__class__(**(decided.__dict__ | wrong)))
        assert list(refused.value.messages) == [field]
    missing = {k: v for k, v in example.items() if k != "verb"}
    with pytest.raises(ValidationError, match="verb"):
        events.outcome_decided.event(missing)


def _remap(value, ids: dict[int, int]):
    """The golden's ids (of timeslots, sections, constraints) as the database chose them."""
    if isinstance(value, dict):
        return {key: _remap(item, ids) for key, item in value.items()}
    if isinstance(value, list):
        return [_remap(item, ids) for item in value]
    return ids.get(value, value) if isinstance(value, int) else value


def test_a_programs_constraints_are_announced_like_the_golden_when_they_change(
    registration_session, golden, like_golden, staged
):
    """The lunch rule of the golden (a class at 9:00 and one at 14:00: take lunch at 12:00),
    then the same program once the rule is removed: every change announces the whole set."""
    session = registration_session
    program = CatalogBuilder(session).program()
    slots = [
        catalog.add_timeslot(session, program, start, start + timedelta(minutes=50))
        for start in (
            datetime.fromisoformat(f"2026-12-12T{hour}:00:00+00:00") for hour in ("09", "12", "14")
        )
    ]
    added = lunch.add_lunch(session, program, [slots[1].id])
    [rule] = added.constraints
    [lunch_section] = added.classes[0].sections
    [(stream, payload)] = staged(session, outbox, events.CONSTRAINTS_CHANGED)
    assert stream == events.CATALOG_STREAM
    ids = {11: slots[0].id, 13: slots[2].id, 21: lunch_section.id, 31: rule.id}
    expected = _remap(golden(events.CONSTRAINTS_CHANGED)["constraints"], ids)
    like_golden(payload, events.CONSTRAINTS_CHANGED, program_id=program, constraints=expected)
    constraints.delete_constraint(session, program, rule.id)
    removed = staged(session, outbox, events.CONSTRAINTS_CHANGED)[-1][1]
    assert removed == {"program_id": program, "constraints": []}
