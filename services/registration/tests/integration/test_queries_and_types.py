"""Registration types and the queries, against a real (SQLite) database."""

import pytest
from registration_service.domain.errors import InvalidInput
from registration_service.use_cases import queries, seats
from registration_service.use_cases.decisions import enroll
from registration_service.use_cases.registration_types import get_cached, get_map
from registration_service.use_cases.snapshots import load_section
from registration_testkit import T0


def test_enrolled_exists_from_the_first_migration(session):
    assert list(get_map(session, category="student")) == ["Enrolled"]


def test_get_map_creates_only_missing_included_names(session):
    first = get_map(session, include=["Enrolled", "Waitlisted"], category="student")
    again = get_map(session, include=["Waitlisted"], category="student")
    assert set(first) == {"Enrolled", "Waitlisted"}
    assert again["Waitlisted"].id == first["Waitlisted"].id
    assert set(get_map(session, category="student")) == {"Enrolled", "Waitlisted"}
    other = get_map(session, include=["Waitlisted"], category="teacher")
    assert other["Waitlisted"].id != first["Waitlisted"].id  # unique per (name, category)


def test_get_map_refuses_include_without_category(session):
    with pytest.raises(InvalidInput) as refused:
        get_map(session, include=["Enrolled"])
    assert "category" in refused.value.fields


def test_get_cached_returns_a_stable_id(session):
    assert get_cached(session, "Enrolled", "student") == get_cached(session, "Enrolled", "student")


def test_student_sections_and_classes(session, build):
    program = build.program()
    a = build.section(program, [build.timeslot(program, 0)], capacity=1)
    b = build.section(program, [build.timeslot(program, 1)], capacity=0)
    build.complete_profile(program, 1)
    enroll(session, student_id=1, section_id=a)
    enroll(session, student_id=1, section_id=b, waitlist=True)
    verbs = {
        s.section_id: s.verb
        for s in queries.student_sections(session, program, 1, ["Enrolled", "Waitlisted"])
    }
    assert verbs == {a: "Enrolled", b: "Waitlisted"}
    assert [s.section_id for s in queries.student_sections(session, program, 1, ["Enrolled"])] == [
        a
    ]
    assert [cid for cid, _ in queries.student_classes(session, program, 1)] == [
        load_section(session, a).class_id
    ]


def test_registration_priority(session, build):
    program = build.program(use_priority=True, priority_limit=3)
    s1, s2 = build.timeslot(program, 0), build.timeslot(program, 1)
    first, second = (build.section(program, [s1]) for _ in range(2))
    later = build.section(program, [s2])

    def priority(timeslot_ids):
        return queries.registration_priority(session, program, 1, timeslot_ids, when=T0)

    assert priority([s1]) == 1
    for level, section_id in ((1, first), (2, second)):
        seats.add_registration(
            session, program, 1, load_section(session, section_id), f"Priority/{level}", T0
        )
    assert priority([s1]) == 3
    assert priority([s2]) == 1
    build.complete_profile(program, 1)
    # In a priority program a seat is placed by an admin process (a lottery run's commit).
    seated = enroll(session, student_id=1, section_id=later, when=T0, placed_by_admin=True)
    assert seated.decision.verb == "Enrolled"
    assert priority([s2]) == 0
    assert priority([s1, s2]) == 0
