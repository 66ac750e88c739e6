"""Runs from queue to commit: solved once per attempt, committed once, outcomes recorded."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from lottery_service import events
from lottery_service.adapters.models import LotteryRunRow, outbox
from lottery_service.domain.errors import Conflict
from lottery_service.domain.preferences import ImportedPriority
from lottery_service.use_cases import commits, interest, runs
from lottery_service.use_cases.solve import solve_run
from servicekit.events import Event
from sqlalchemy import select


@pytest.fixture
def program(catalog, sessions):
    """Three students who all want the same 2-seat class first; a second class for all."""
    program = catalog.program()
    t1, t2 = catalog.timeslot(program, 9), catalog.timeslot(program, 10)
    popular, (seat,) = catalog.klass(program, [(2, [t1])])
    other, (spare,) = catalog.klass(program, [(10, [t2])])
    for student in (1, 2, 3):
        catalog.grade(program, student, 9)
    priorities = [ImportedPriority(s, t1, 1, popular) for s in (1, 2, 3)]
    with sessions.begin() as session:
        interest.import_preferences(session, program, [(s, other) for s in (1, 2, 3)], priorities)
    return {"id": program, "seat": seat, "spare": spare}


def queue(sessions, program_id, seed=7):
    with sessions.begin() as session:
        return runs.create_run(session, program_id, seed, 5).id


def staged(sessions, event_type):
    with sessions() as session:
        rows = session.execute(
            select(outbox.c.body).where(outbox.c.event_type == event_type).order_by(outbox.c.id)
        ).scalars()
        return [json.loads(body)["payload"] for body in rows]


def outcome(payload_of, student_id, section_id, status="accepted", reason=None):
    return Event(
        events.OUTCOME_DECIDED,
        "registration",
        {
            "id": f"r{student_id}-{section_id}",
            "program_id": 1,
            "student_id": student_id,
            "action": "enroll",
            "section_id": section_id,
            "from_section_id": None,
            "status": status,
            "reason": reason,
            "message": None,
            "verb": "Enrolled" if status == "accepted" else None,
            "decided_at": "2026-12-01T09:00:00+00:00",
            "origin": payload_of,
        },
    )


def test_a_run_is_solved_once_and_stores_stats_and_assignments(sessions, program):
    run_id = queue(sessions, program["id"])
    assert solve_run(sessions, run_id) == "done"
    assert solve_run(sessions, run_id) is None  # a redelivered message: already done
    with sessions() as session:
        run = runs.get_run(session, run_id)
        assigned = runs.run_assignments(session, run_id)
    assert run.stats["priority"]["1"] == {"requested": 3, "met": 2, "percent": 66.7}
    assert run.stats["empty_schedules"] == 0
    assert run.stats["solver"]["method"] == "optimiser"
    assert "first_choices_met" in run.stats["lp_bounds"]
    assert sum(a.section_id == program["seat"] for a in assigned) == 2
    assert {a.student_id for a in assigned if a.section_id == program["spare"]} == {1, 2, 3}


def test_a_run_out_of_time_falls_back_to_the_greedy_fill_and_says_so(sessions, program):
    with sessions.begin() as session:
        run_id = runs.create_run(session, program["id"], 7, 0.001).id
    assert solve_run(sessions, run_id) == "done"
    with sessions() as session:
        solver = runs.get_run(session, run_id).stats["solver"]
    assert (solver["method"], solver["optimal"], solver["gap"]) == ("greedy", False, None)


def test_the_same_seed_gives_the_same_assignments(sessions, program):
    results = []
    for _ in range(2):
        run_id = queue(sessions, program["id"], seed=11)
        solve_run(sessions, run_id)
        with sessions() as session:
            results.append(
                [(a.student_id, a.section_id) for a in runs.run_assignments(session, run_id)]
            )
    assert results[0] == results[1]


def test_only_the_latest_attempt_may_finish_a_run(sessions, program):
    run_id = queue(sessions, program["id"])
    with sessions.begin() as session:
        lost = runs.claim(session, run_id)  # a worker that then died mid-solve
    assert solve_run(sessions, run_id) == "done"  # the message, redelivered
    with sessions.begin() as session:
        lottery = runs.lottery_input(session, runs.get_run(session, run_id))
    from lottery_service.domain.greedy import greedy_fill

    with sessions.begin() as session:
        assert runs.finish(session, lost, greedy_fill(lottery), {}) is False


def test_a_program_without_preferences_finishes_with_zero_stats(catalog, sessions):
    program = catalog.program()
    run_id = queue(sessions, program)
    assert solve_run(sessions, run_id) == "done"
    with sessions() as session:
        stats = runs.get_run(session, run_id).stats
    assert (stats["students"], stats["enrollments"], stats["seats"]) == (0, 0, 0)


def test_commit_stages_the_assignments_once_and_outcomes_finish_it(sessions, program):
    run_id = queue(sessions, program["id"])
    with sessions.begin() as session, pytest.raises(Conflict) as early:
        commits.commit_run(session, run_id)
    assert "still queued" in early.value.message
    solve_run(sessions, run_id)
    with sessions.begin() as session:
        assert commits.commit_run(session, run_id).status == "committing"
    with sessions.begin() as session, pytest.raises(Conflict) as twice:
        commits.commit_run(session, run_id)
    assert "already being committed" in twice.value.message

    (part,) = staged(sessions, events.RUN_COMMITTED)
    assert (part["run_id"], part["part"], part["parts"]) == (run_id, 1, 1)
    pairs = [(a["student_id"], a["section_id"]) for a in part["assignments"]]
    assert len(pairs) == 5
    origin = events.run_origin(run_id)
    decided = [outcome(origin, s, c) for s, c in pairs[:-1]]
    decided.append(outcome(origin, *pairs[-1], status="rejected", reason="time_conflict"))
    decided.append(outcome(None, 8, 9))  # a student's own request: not ours
    with sessions.begin() as session:
        assert commits.apply_outcomes(session, decided[:2]) == 2
    with sessions() as session:
        assert runs.get_run(session, run_id).status == "committing"
    with sessions.begin() as session:
        commits.apply_outcomes(session, decided)  # redelivered with the rest: no double count
    with sessions() as session:
        run = runs.get_run(session, run_id)
    assert run.status == "committed"
    assert run.stats["commit"] == {
        "accepted": 4,
        "rejected": 1,
        "pending": 0,
        "reasons": {"time_conflict": 1},
    }


def test_revert_drops_only_the_accepted_enrollments(sessions, program):
    run_id = queue(sessions, program["id"])
    solve_run(sessions, run_id)
    with sessions.begin() as session:
        committed_at = commits.commit_run(session, run_id).committed_at
    (part,) = staged(sessions, events.RUN_COMMITTED)
    pairs = [(a["student_id"], a["section_id"]) for a in part["assignments"]]
    origin = events.run_origin(run_id)
    with sessions.begin() as session:
        commits.apply_outcomes(
            session,
            [outcome(origin, *pairs[0], status="rejected", reason="section_full")]
            + [outcome(origin, s, c) for s, c in pairs[1:]],
        )
    with sessions.begin() as session:
        assert commits.revert_run(session, run_id).status == "reverting"
    (revert,) = staged(sessions, events.RUN_REVERTED)
    assert revert["starts_at"] == committed_at.isoformat()
    dropped = [(a["student_id"], a["section_id"]) for a in revert["assignments"]]
    assert sorted(dropped) == sorted(pairs[1:])
    with sessions.begin() as session:
        commits.apply_outcomes(
            session, [outcome(events.revert_origin(run_id), s, c) for s, c in dropped]
        )
    with sessions.begin() as session:
        run = runs.get_run(session, run_id)
        assert (run.status, run.stats["revert"]["dropped"]) == ("reverted", 4)
        with pytest.raises(Conflict):
            commits.commit_run(session, run_id)


def test_one_committed_run_per_program(sessions, program):
    first, second = queue(sessions, program["id"]), queue(sessions, program["id"])
    solve_run(sessions, first)
    solve_run(sessions, second)
    with sessions.begin() as session:
        commits.commit_run(session, first)
    with sessions.begin() as session, pytest.raises(Conflict) as refused:
        commits.commit_run(session, second)
    assert refused.value.code == "program_has_committed_run"


def test_lost_run_messages_are_found_again(sessions, program):
    run_id = queue(sessions, program["id"])
    with sessions.begin() as session:
        assert runs.stale_runs(session, timedelta(seconds=30), timedelta(minutes=2)) == []
        run = session.get(LotteryRunRow, run_id)
        run.enqueued_at = datetime.now(UTC) - timedelta(minutes=1)
    with sessions.begin() as session:
        assert runs.stale_runs(session, timedelta(seconds=30), timedelta(minutes=2)) == [run_id]
    with sessions.begin() as session:  # sent again just now: not again at once
        assert runs.stale_runs(session, timedelta(seconds=30), timedelta(minutes=2)) == []


def test_what_registration_has_not_decided_is_announced_again(sessions, program):
    run_id = queue(sessions, program["id"])
    solve_run(sessions, run_id)
    with sessions.begin() as session:
        committed_at = commits.commit_run(session, run_id).committed_at
    (part,) = staged(sessions, events.RUN_COMMITTED)
    pairs = [(a["student_id"], a["section_id"]) for a in part["assignments"]]
    origin = events.run_origin(run_id)
    with sessions.begin() as session:
        commits.apply_outcomes(session, [outcome(origin, s, c) for s, c in pairs[:2]])
        assert commits.announce_pending_runs(session) == [run_id]
    *_, again = staged(sessions, events.RUN_COMMITTED)
    assert sorted((a["student_id"], a["section_id"]) for a in again["assignments"]) == sorted(
        pairs[2:]
    )
    assert (again["run_id"], again["starts_at"]) == (run_id, committed_at.isoformat())


def test_a_run_keeps_the_programs_schedule_constraints_learnt_from_registration(sessions, program):
    """A rule "the popular class's seat, then not the other class too", learnt from
    registration's event, is kept by the solver itself: the two students placed in the seat do
    not also get the other class (a star), and nothing is left for the repair to name."""
    from lottery_service.use_cases.read_models import handle_event

    rule = {
        "id": 5,
        "label": "One or the other",
        "condition": {"in_sections": [program["seat"]]},
        "requirement": {"not": {"in_sections": [program["spare"]]}},
    }
    changed = {"program_id": program["id"], "constraints": [rule]}
    with sessions.begin() as session:
        assert handle_event(session, Event(events.CONSTRAINTS_CHANGED, "registration", changed))
    run_id = queue(sessions, program["id"])
    assert solve_run(sessions, run_id) == "done"
    with sessions() as session:
        run = runs.get_run(session, run_id)
        assigned = runs.run_assignments(session, run_id)
    seated = {a.student_id for a in assigned if a.section_id == program["seat"]}
    assert len(seated) == 2
    assert not any(a.student_id in seated and a.section_id == program["spare"] for a in assigned)
    assert run.stats["constraint_repairs"] == []


def lunch_program(catalog, sessions):
    """Students 1 and 2 star a class at 9:00 and one at 14:00; the rule asks for the lunch
    section (12:00) of everyone with both. The run, solved: (run id, early, late, lunch)."""
    from lottery_service.use_cases.read_models import handle_event

    program = catalog.program()
    morning, noon, afternoon = (catalog.timeslot(program, h) for h in (9, 12, 14))
    before, (early,) = catalog.klass(program, [(5, [morning])])
    after, (late,) = catalog.klass(program, [(5, [afternoon])])
    _, (lunch,) = catalog.klass(program, [(5, [noon])])
    for student in (1, 2):
        catalog.grade(program, student, 9)
    with sessions.begin() as session:
        stars = [(s, c) for s in (1, 2) for c in (before, after)]
        interest.import_preferences(session, program, stars, [])
    rule = {
        "id": 8,
        "label": "Take a lunch period",
        "condition": {"all": [{"occupied": morning}, {"occupied": afternoon}]},
        "requirement": {"in_sections": [lunch]},
    }
    changed = {"program_id": program, "constraints": [rule]}
    with sessions.begin() as session:
        assert handle_event(session, Event(events.CONSTRAINTS_CHANGED, "registration", changed))
    run_id = queue(sessions, program)
    assert solve_run(sessions, run_id) == "done"
    with sessions() as session:
        assigned = {(a.student_id, a.section_id) for a in runs.run_assignments(session, run_id)}
        stats = runs.get_run(session, run_id).stats
    assert assigned == {(s, c) for s in (1, 2) for c in (early, late, lunch)}
    assert stats["constraint_repairs"] == [] and stats["constraint_sections_filled"] == 2
    return run_id, early, late, lunch


def test_a_lunch_program_is_committed_lunch_first(catalog, sessions):
    """Students with a class before lunch and one after are given a lunch section by the solver;
    the commit sends the lunch sections first and the classes once those are decided, so
    registration judges each class with the student's lunch already held."""
    run_id, early, late, lunch = lunch_program(catalog, sessions)
    with sessions.begin() as session:
        commits.commit_run(session, run_id)
    (first,) = staged(sessions, events.RUN_COMMITTED)
    assert {(a["student_id"], a["section_id"]) for a in first["assignments"]} == {
        (1, lunch),
        (2, lunch),
    }
    origin = events.run_origin(run_id)
    with sessions.begin() as session:
        commits.apply_outcomes(session, [outcome(origin, s, lunch) for s in (1, 2)])
    _, second = staged(sessions, events.RUN_COMMITTED)
    rest = {(a["student_id"], a["section_id"]) for a in second["assignments"]}
    assert rest == {(s, c) for s in (1, 2) for c in (early, late)}
    assert second["starts_at"] == first["starts_at"]  # one start date for the whole run
    with sessions.begin() as session:
        commits.apply_outcomes(session, [outcome(origin, s, c) for s, c in sorted(rest)])
    with sessions() as session:
        run = runs.get_run(session, run_id)
    assert run.status == "committed" and run.stats["commit"]["accepted"] == 6
