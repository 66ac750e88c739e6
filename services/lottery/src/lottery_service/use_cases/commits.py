"""Committing a run through registration, learning what it decided, and reverting.

A commit stages the run's assignments as ``lottery.run.committed.v1`` events (parts of at most
``ASSIGNMENTS_PER_PART``) in the same transaction that marks the run ``committing``: registration
turns each assignment into an enroll request decided by its own rules, in batches through its
partitions, every registration starting at the run's ``committed_at``. Registration's outcomes
come back on ``registration.outcomes`` tagged with the run's origin; the run is ``committed`` once
none is pending, with what was accepted and rejected (and why) in its stats. In a program with
schedule constraints the sections they ask for (lunch) are sent first and the rest once those
are decided (``waiting`` until then): registration judges each enrollment against the schedule
it makes, and a student's class after lunch is accepted only once their lunch section is held.
A revert drops the accepted enrollments the same way; registration drops only registrations that
started at the run's ``committed_at``, never one a student made.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from servicekit.events import Event
from servicekit.outbox import add_to_outbox
from sqlalchemy import bindparam, func, select, update
from sqlalchemy.orm import Session

from lottery_service import events
from lottery_service.adapters.models import AssignmentRow, LotteryRunRow, outbox
from lottery_service.domain.errors import Conflict
from lottery_service.domain.model import CommitOutcome, RunStatus
from lottery_service.use_cases.priority_registrations import apply_priority_registrations
from lottery_service.use_cases.runs import constraint_sections, get_run

log = logging.getLogger(__name__)

_WHY_NOT_COMMIT = {
    RunStatus.QUEUED: "it is still queued; commit it once it is done",
    RunStatus.RUNNING: "it is still running; commit it once it is done",
    RunStatus.FAILED: "it failed; start a new run",
    RunStatus.COMMITTING: "it is already being committed",
    RunStatus.COMMITTED: "it is already committed",
    RunStatus.REVERTING: "it was committed and is being reverted; start a new run",
    RunStatus.REVERTED: "it was committed and reverted; start a new run",
}


def commit_run(session: Session, run_id: int) -> LotteryRunRow:
    """Mark the run committing and stage its assignments for registration (once per run)."""
    run = get_run(session, run_id, lock=True)
    if run.status != RunStatus.DONE:
        reason = _WHY_NOT_COMMIT[RunStatus(run.status)]
        raise Conflict(
            "run_not_committable", f"Lottery run {run_id} cannot be committed: {reason}."
        )
    other = session.scalar(
        select(LotteryRunRow.id).where(
            LotteryRunRow.program_id == run.program_id,
            LotteryRunRow.id != run.id,
            LotteryRunRow.status.in_(
                [RunStatus.COMMITTING, RunStatus.COMMITTED, RunStatus.REVERTING]
            ),
        )
    )
    if other is not None:
        raise Conflict(
            "program_has_committed_run",
            f"Lottery run {other} of program {run.program_id} is committed; revert it before "
            f"committing run {run_id}.",
        )
    now = datetime.now(UTC)
    run.committed_at = now
    pairs = _pairs(session, run_id)
    session.execute(
        update(AssignmentRow)
        .where(AssignmentRow.run_id == run_id)
        .values(outcome=CommitOutcome.PENDING)
    )
    first = constraint_sections(session, run.program_id)
    if first and any(section in first for _, section in pairs):
        # The sections the constraints ask for (lunch) go first; the rest once they are
        # decided, so each of a student's classes is judged with their lunch already held.
        session.execute(
            update(AssignmentRow)
            .where(AssignmentRow.run_id == run_id, AssignmentRow.section_id.not_in(first))
            .values(outcome=CommitOutcome.WAITING)
        )
        pairs = [pair for pair in pairs if pair[1] in first]
    _stage(session, events.run_committed, run, now, pairs)
    run.status = RunStatus.COMMITTING if pairs else RunStatus.COMMITTED
    if not pairs:
        run.decided_at = now
    session.flush()
    return run


def revert_run(session: Session, run_id: int) -> LotteryRunRow:
    """Drop the enrollments the commit made, through registration."""
    run = get_run(session, run_id, lock=True)
    if run.status != RunStatus.COMMITTED or run.committed_at is None:
        raise Conflict(
            "run_not_revertible",
            f"Lottery run {run_id} is {run.status}; only a committed run can be reverted.",
        )
    accepted = _pairs(session, run_id, CommitOutcome.ACCEPTED)
    session.execute(
        update(AssignmentRow)
        .where(AssignmentRow.run_id == run_id, AssignmentRow.outcome == CommitOutcome.ACCEPTED)
        .values(revert_outcome=CommitOutcome.PENDING)
    )
    _stage(session, events.run_reverted, run, run.committed_at, accepted)
    now = datetime.now(UTC)
    run.status = RunStatus.REVERTING if accepted else RunStatus.REVERTED
    if not accepted:
        run.reverted_at = now
    session.flush()
    return run


def announce_pending_runs(session: Session) -> list[int]:
    """Stage again what registration has not decided yet of every run still ``committing`` or
    ``reverting``: its pending assignments, as the commit's (or the revert's) parts with the
    run's one start date. For registration's relay stopped longer than the streams' retention:
    registration stores each assignment under its idempotency key, so an assignment it had
    stored already (even under another event id) is not stored twice. The runs announced."""
    announced = []
    pending = session.scalars(
        select(LotteryRunRow)
        .where(LotteryRunRow.status.in_([RunStatus.COMMITTING, RunStatus.REVERTING]))
        .order_by(LotteryRunRow.id)
    )
    for run in pending:
        if run.committed_at is None:
            continue
        committing = run.status == RunStatus.COMMITTING
        column = AssignmentRow.outcome if committing else AssignmentRow.revert_outcome
        pairs = list(
            session.execute(
                select(AssignmentRow.student_id, AssignmentRow.section_id)
                .where(AssignmentRow.run_id == run.id, column == CommitOutcome.PENDING)
                .order_by(AssignmentRow.section_id, AssignmentRow.student_id)
            ).tuples()
        )
        spec = events.run_committed if committing else events.run_reverted
        _stage(session, spec, run, run.committed_at, pairs)
        announced.append(run.id)
    return announced


def _pairs(
    session: Session, run_id: int, outcome: CommitOutcome | None = None
) -> list[tuple[int, int]]:
    query = select(AssignmentRow.student_id, AssignmentRow.section_id).where(
        AssignmentRow.run_id == run_id
    )
    if outcome is not None:
        query = query.where(AssignmentRow.outcome == outcome)
    return list(
        session.execute(query.order_by(AssignmentRow.section_id, AssignmentRow.student_id)).tuples()
    )


def _stage(
    session: Session,
    spec: Any,
    run: LotteryRunRow,
    starts_at: datetime,
    pairs: Sequence[tuple[int, int]],
) -> None:
    if not pairs:
        return
    size = events.ASSIGNMENTS_PER_PART
    parts = -(-len(pairs) // size)
    for part in range(parts):
        chunk = pairs[part * size : (part + 1) * size]
        payload = {
            "run_id": run.id,
            "program_id": run.program_id,
            "starts_at": starts_at,
            "part": part + 1,
            "parts": parts,
            "assignments": [{"student_id": s, "section_id": c} for s, c in chunk],
        }
        add_to_outbox(session, outbox, events.RUNS_STREAM, spec.event(payload))


_assignments = AssignmentRow.__table__.c


def _record(column: str, reason_column: str) -> Any:
    """An executemany UPDATE of one outcome column, only while it is still pending."""
    return (
        update(AssignmentRow.__table__)
        .where(
            _assignments.run_id == bindparam("b_run"),
            _assignments.student_id == bindparam("b_student"),
            _assignments.section_id == bindparam("b_section"),
            _assignments[column] == CommitOutcome.PENDING.value,
        )
        .values({column: bindparam("b_outcome"), reason_column: bindparam("b_reason")})
    )


_RECORD_COMMIT = _record("outcome", "reason")
_RECORD_REVERT = _record("revert_outcome", "revert_reason")


def _origin_run(origin: object) -> tuple[str, int] | None:
    """("run" | "revert", run id) of one of our origins; None for any other request."""
    if not isinstance(origin, str) or not origin.startswith("lottery-"):
        return None
    kind, _, number = origin.removeprefix("lottery-").partition(":")
    if kind not in ("run", "revert") or not number.isdigit():
        return None
    return kind, int(number)


def apply_outcomes(session: Session, batch: list[Event]) -> int:
    """Record registration's outcomes of our runs' requests (others are skipped), then finish
    every run left with nothing pending. Idempotent: an outcome is recorded only while its
    assignment is pending, so a redelivered batch changes nothing. Students' ``Priority/N``
    registrations in the batch become their ranked priorities (see priority_registrations)."""
    apply_priority_registrations(session, batch)
    commits: list[dict[str, Any]] = []
    reverts: list[dict[str, Any]] = []
    for event in batch:
        # Most outcomes are students' own requests: skipped before their payload is read.
        if event.event_type != events.OUTCOME_DECIDED:
            continue
        ours = _origin_run(event.payload.get("origin"))
        if ours is None:
            continue
        payload = events.outcome_decided.read(event.payload)
        kind, run_id = ours
        accepted = payload["status"] == "accepted"
        row = {
            "b_run": run_id,
            "b_student": payload["student_id"],
            "b_section": payload["section_id"],
            "b_outcome": (CommitOutcome.ACCEPTED if accepted else CommitOutcome.REJECTED).value,
            "b_reason": payload["reason"],
        }
        (commits if kind == "run" else reverts).append(row)
    if commits:
        session.execute(_RECORD_COMMIT, commits)
    if reverts:
        session.execute(_RECORD_REVERT, reverts)
    for run_id in sorted({r["b_run"] for r in commits + reverts}):
        _finish_if_decided(session, run_id)
    return len(commits) + len(reverts)


def _finish_if_decided(session: Session, run_id: int) -> None:
    run = session.get(LotteryRunRow, run_id, with_for_update=True)
    if run is None or run.status not in (RunStatus.COMMITTING, RunStatus.REVERTING):
        return
    column = (
        AssignmentRow.outcome
        if run.status == RunStatus.COMMITTING
        else AssignmentRow.revert_outcome
    )
    pending = session.scalar(
        select(func.count())
        .select_from(AssignmentRow)
        .where(AssignmentRow.run_id == run_id, column == CommitOutcome.PENDING)
    )
    if pending:
        return
    if run.status == RunStatus.COMMITTING and run.committed_at is not None:
        waiting = _pairs(session, run_id, CommitOutcome.WAITING)
        if waiting:  # the first wave is decided: the rest now
            session.execute(
                update(AssignmentRow)
                .where(
                    AssignmentRow.run_id == run_id, AssignmentRow.outcome == CommitOutcome.WAITING
                )
                .values(outcome=CommitOutcome.PENDING)
            )
            _stage(session, events.run_committed, run, run.committed_at, waiting)
            return
    now = datetime.now(UTC)
    stats = dict(run.stats or {})
    if run.status == RunStatus.COMMITTING:
        stats["commit"] = _summary(
            session, run_id, AssignmentRow.outcome, AssignmentRow.reason, _COMMIT_KEYS
        )
        run.status, run.decided_at = RunStatus.COMMITTED, now
    else:
        stats["revert"] = _summary(
            session, run_id, AssignmentRow.revert_outcome, AssignmentRow.revert_reason, _REVERT_KEYS
        )
        run.status, run.reverted_at = RunStatus.REVERTED, now
    run.stats = stats
    log.info("lottery run %d is %s", run_id, run.status)


_COMMIT_KEYS = {
    CommitOutcome.ACCEPTED: "accepted",
    CommitOutcome.REJECTED: "rejected",
    CommitOutcome.PENDING: "pending",
}
_REVERT_KEYS = {
    CommitOutcome.ACCEPTED: "dropped",
    CommitOutcome.REJECTED: "not_dropped",
    CommitOutcome.PENDING: "not_dropped",
}


def _summary(
    session: Session, run_id: int, outcome: Any, reason: Any, keys: dict[CommitOutcome, str]
) -> dict[str, Any]:
    """The run's assignments counted by what registration decided (``keys`` names each
    outcome in the stats), with the reasons of the refusals."""
    counts: dict[str, Any] = dict.fromkeys(keys.values(), 0) | {"reasons": {}}
    for decided, why, n in session.execute(
        select(outcome, reason, func.count())
        .where(AssignmentRow.run_id == run_id, outcome.is_not(None))
        .group_by(outcome, reason)
    ).tuples():
        counts[keys[CommitOutcome(decided)]] += n
        if why:
            counts["reasons"][why] = counts["reasons"].get(why, 0) + n
    return counts
