"""The lottery service stages a run's commit and revert shaped like their golden examples, on
the stream its ``events.py`` declares."""

from __future__ import annotations

from lottery_service import events
from lottery_service.adapters.models import AssignmentRow, LotteryRunRow, outbox
from lottery_service.domain.model import RunStatus
from lottery_service.use_cases import commits
from servicekit.events import Event


def _committed_run(session, golden) -> LotteryRunRow:
    """The golden's run, solved: its assignments stored."""
    example = golden(events.RUN_COMMITTED)
    run = LotteryRunRow(
        program_id=example["program_id"], seed=1, time_limit_seconds=10, status=RunStatus.DONE
    )
    session.add(run)
    session.flush()
    session.add_all(
        AssignmentRow(run_id=run.id, student_id=a["student_id"], section_id=a["section_id"])
        for a in example["assignments"]
    )
    session.flush()
    return run


def test_a_commit_is_staged_like_the_golden(lottery_session, golden, like_golden, staged):
    run = _committed_run(lottery_session, golden)
    commits.commit_run(lottery_session, run.id)
    [(stream, payload)] = staged(lottery_session, outbox, events.RUN_COMMITTED)
    assert stream == events.RUNS_STREAM
    like_golden(
        payload, events.RUN_COMMITTED, run_id=run.id, starts_at=run.committed_at.isoformat()
    )


def test_a_revert_is_staged_like_the_golden(lottery_session, golden, like_golden, staged):
    run = _committed_run(lottery_session, golden)
    commits.commit_run(lottery_session, run.id)
    origin = events.run_origin(run.id)
    decided = [
        Event(
            events.OUTCOME_DECIDED,
            "registration",
            golden(events.OUTCOME_DECIDED) | a | {"status": "accepted", "origin": origin},
        )
        for a in golden(events.RUN_COMMITTED)["assignments"]
    ]
    assert commits.apply_outcomes(lottery_session, decided) == 2
    assert run.status == RunStatus.COMMITTED
    commits.revert_run(lottery_session, run.id)
    [(stream, payload)] = staged(lottery_session, outbox, events.RUN_REVERTED)
    assert stream == events.RUNS_STREAM
    like_golden(payload, events.RUN_REVERTED, run_id=run.id, starts_at=run.committed_at.isoformat())
