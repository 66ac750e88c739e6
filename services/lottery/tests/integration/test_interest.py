"""Stars and priorities: grade and catalog rules, expirable stars, all-or-nothing import."""

from __future__ import annotations

import pytest
from lottery_service.adapters.models import PriorityRow, StarRow
from lottery_service.domain.errors import InvalidInput, NotFound
from lottery_service.domain.preferences import ImportedPriority
from lottery_service.use_cases import interest
from sqlalchemy import func, select


@pytest.fixture
def program(catalog):
    """A program with two timeslots, three classes (one for grades 11-12) and two students."""
    program = catalog.program(priority_limit=2)
    t1, t2 = catalog.timeslot(program, 9), catalog.timeslot(program, 10)
    a, _ = catalog.klass(program, [(10, [t1]), (10, [t2])])
    b, _ = catalog.klass(program, [(10, [t1, t2])])
    senior, _ = catalog.klass(program, [(10, [t1])], grades=(11, 12))
    catalog.grade(program, 1, 9)
    catalog.grade(program, 2, 12)
    return {"id": program, "t1": t1, "t2": t2, "a": a, "b": b, "senior": senior}


def test_unstar_expires_and_star_again_starts_a_new_row(sessions, program):
    p, a = program["id"], program["a"]
    with sessions.begin() as session:
        interest.star(session, p, 1, a)
        interest.star(session, p, 1, a)  # already starred: kept as it is
    with sessions.begin() as session:
        interest.unstar(session, p, 1, a)
        assert interest.active_stars(session, p, 1) == []
    with sessions.begin() as session:
        interest.star(session, p, 1, a)
        rows = session.scalars(select(StarRow).order_by(StarRow.id)).all()
    assert [(r.class_id, r.end_date is None) for r in rows] == [(a, False), (a, True)]


def test_stars_need_a_known_grade_within_the_class_range(sessions, program):
    p = program["id"]
    with sessions.begin() as session, pytest.raises(InvalidInput) as outside:
        interest.star(session, p, 1, program["senior"])
    assert "grades 11-12" in outside.value.fields["class_id"][0]
    with sessions.begin() as session, pytest.raises(InvalidInput) as unknown:
        interest.star(session, p, 99, program["a"])
    assert "complete" in unknown.value.fields["class_id"][0]
    with sessions.begin() as session, pytest.raises(InvalidInput) as missing:
        interest.star(session, p, 1, 9999)
    assert "not in program" in missing.value.fields["class_id"][0]
    with sessions.begin() as session, pytest.raises(NotFound):
        interest.unstar(session, p, 1, program["a"])


def test_priorities_star_their_classes_and_obey_the_limit(sessions, program):
    p, t1, a, b = program["id"], program["t1"], program["a"], program["b"]
    with sessions.begin() as session:
        assert interest.set_priorities(session, p, 1, {t1: [b, a]}) == {t1: [b, a]}
        assert interest.active_stars(session, p, 1) == sorted([a, b])
    with sessions.begin() as session, pytest.raises(InvalidInput) as too_many:
        interest.set_priorities(session, p, 2, {t1: [a, b, program["senior"]]})
    assert too_many.value.fields[str(t1)] == ["You may choose up to 2 classes per timeslot."]
    with sessions.begin() as session, pytest.raises(InvalidInput) as wrong_slot:
        interest.set_priorities(session, p, 1, {program["t2"]: [b]})  # b starts in t1
    assert "no section starting" in wrong_slot.value.fields[f"{program['t2']}.0"][0]


def test_unstarring_a_ranked_class_takes_it_out_of_the_ranking(sessions, program):
    p, t1, a, b = program["id"], program["t1"], program["a"], program["b"]
    with sessions.begin() as session:
        interest.set_priorities(session, p, 1, {t1: [b, a]})
    with sessions.begin() as session:
        interest.unstar(session, p, 1, b)
        assert interest.get_priorities(session, p, 1) == {t1: [a]}


def test_an_import_replaces_everything_or_nothing(sessions, program):
    p, t1, a, b = program["id"], program["t1"], program["a"], program["b"]
    with sessions.begin() as session:
        interest.star(session, p, 1, b)
    good = [ImportedPriority(1, t1, 1, a), ImportedPriority(2, t1, 1, b)]
    bad = [*good, ImportedPriority(2, t1, 3, a)]  # rank 3 > limit 2
    with sessions.begin() as session, pytest.raises(InvalidInput) as refused:
        interest.import_preferences(session, p, [(2, a), (1, program["senior"])], bad)
    assert set(refused.value.fields) == {"stars.1.class_id", "priorities.2.rank"}
    with sessions() as session:  # nothing saved: the earlier star stands, no priorities
        assert interest.active_stars(session, p, 1) == [b]
        assert session.scalar(select(func.count()).select_from(PriorityRow)) == 0
    with sessions.begin() as session:
        counts = interest.import_preferences(session, p, [(2, a)], good, caps=[(1, 1, None)])
    assert counts == {"stars": 3, "priorities": 2, "caps": 1}
    with sessions() as session:
        assert interest.active_stars(session, p, 1) == [a]  # b's star expired by the import
        assert interest.active_stars(session, p, 2) == sorted([a, b])


def test_import_ranks_start_at_one_without_gaps(sessions, program):
    p, t1, a = program["id"], program["t1"], program["a"]
    with sessions.begin() as session, pytest.raises(InvalidInput) as gap:
        interest.import_preferences(session, p, [], [ImportedPriority(1, t1, 2, a)])
    assert "Rank 1 is missing" in gap.value.fields["priorities.0.rank"][0]
