"""The catalog and grades the lottery learns from events: applied once, upserted, replayable."""

from __future__ import annotations

from lottery_service import events
from lottery_service.adapters.models import SectionRow, StudentGradeRow, TimeslotRow
from lottery_service.use_cases.read_models import program_catalog
from servicekit.events import Event


def test_a_class_and_its_sections_are_learnt_in_time_order(catalog, sessions):
    program = catalog.program()
    early, late = catalog.timeslot(program, 9), catalog.timeslot(program, 10)
    class_id, (double, _single) = catalog.klass(program, [(20, [early, late]), (10, [late])])
    with sessions() as session:
        section = session.get(SectionRow, double)
        assert (section.timeslot_ids, section.first_timeslot_id) == ([early, late], early)
        assert session.get(TimeslotRow, late).start.hour == 10
        known = program_catalog(session, program)
    assert known.starts == {(early, class_id), (late, class_id)}
    assert known.priority_limit == 3


def test_an_event_delivered_twice_changes_nothing(catalog, sessions):
    program = catalog.program()
    slot = catalog.timeslot(program)
    _, (section_id,) = catalog.klass(program, [(20, [slot])])
    first = catalog.sent[-1]
    # A later update shrinks the section; the first event delivered again must not undo it.
    changed = dict(
        first.payload, sections=[{"id": section_id, "capacity": 5, "timeslot_ids": [slot]}]
    )
    catalog.send(events.CLASS_UPDATED, changed)
    assert catalog.deliver(first) is False
    with sessions() as session:
        assert session.get(SectionRow, section_id).capacity == 5


def test_a_reopened_profile_takes_the_grade_away(catalog, sessions):
    program = catalog.program()
    catalog.grade(program, 42, 9)
    catalog.grade(program, 42, 10)  # a correction: the latest grade holds
    with sessions() as session:
        assert session.get(StudentGradeRow, (program, 42)).grade == 10
    catalog.send(events.PROFILE_REOPENED, {"program_id": program, "student_id": 42})
    with sessions() as session:
        assert session.get(StudentGradeRow, (program, 42)) is None


def test_other_services_events_are_ignored(catalog):
    unknown = Event("registration.section.renamed.v9", "registration", {"id": 1})
    assert catalog.deliver(unknown) is False
