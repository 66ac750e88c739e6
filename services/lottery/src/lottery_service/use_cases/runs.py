"""Lottery runs: queued by an admin, solved by the worker, committed through registration.

A run is claimed by a worker with a conditional update that counts attempts; only the latest
attempt may finish it, so a redelivered task (a worker lost mid-solve) never writes twice. The
relay re-sends a run whose message was lost. A commit stages the assignments as events in the
same transaction as the status change; registration turns them into enroll requests and the
run becomes ``committed`` once every one is decided (see :mod:`commits`).
"""

from __future__ import annotations

import secrets
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, or_, select, update
from sqlalchemy.orm import Session

from lottery_service.adapters.models import (
    AssignmentRow,
    ClassRow,
    LotteryRunRow,
    PriorityRow,
    ProgramConstraintsRow,
    ProgramRow,
    SectionRow,
    StarRow,
    StudentCapRow,
    StudentGradeRow,
)
from lottery_service.domain.errors import Conflict, InvalidInput, NotFound
from lottery_service.domain.model import (
    LotteryInput,
    LotteryResult,
    RunStatus,
    Section,
    Student,
)
from lottery_service.domain.rule_encoding import required_sections
from lottery_service.domain.schedule_rules import ScheduleRule
from lottery_service.use_cases.read_models import require_program

SEED_BOUND = 2**31


@dataclass(frozen=True)
class Claim:
    run_id: int
    attempt: int


def create_run(
    session: Session, program_id: int, seed: int | None, time_limit_seconds: float
) -> LotteryRunRow:
    """Queue a run; a missing seed is drawn now and recorded, so the run can be repeated."""
    require_program(session, program_id)
    if seed is not None and not 0 <= seed < SEED_BOUND:
        raise InvalidInput({"seed": [f"Must be from 0 to {SEED_BOUND - 1}."]})
    run = LotteryRunRow(
        program_id=program_id,
        seed=secrets.randbelow(SEED_BOUND) if seed is None else seed,
        time_limit_seconds=time_limit_seconds,
        status=RunStatus.QUEUED,
    )
    session.add(run)
    session.flush()
    return run


def get_run(session: Session, run_id: int, *, lock: bool = False) -> LotteryRunRow:
    query = select(LotteryRunRow).where(LotteryRunRow.id == run_id)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    run = session.scalars(query).one_or_none()
    if run is None:
        raise NotFound("lottery run", run_id)
    return run


def list_runs(session: Session, program_id: int) -> list[LotteryRunRow]:
    require_program(session, program_id)
    return list(
        session.scalars(
            select(LotteryRunRow)
            .where(LotteryRunRow.program_id == program_id)
            .order_by(LotteryRunRow.id)
        )
    )


def claim(session: Session, run_id: int) -> Claim | None:
    """Take the run for this worker; None when it is finished (or unknown). A run still
    ``running`` is taken again: its worker was lost, and only the new attempt may finish it."""
    now = datetime.now(UTC)
    taken = session.execute(
        update(LotteryRunRow)
        .where(
            LotteryRunRow.id == run_id,
            LotteryRunRow.status.in_([RunStatus.QUEUED, RunStatus.RUNNING]),
        )
        .values(
            status=RunStatus.RUNNING,
            attempt=LotteryRunRow.attempt + 1,
            started_at=now,
            phase="reading preferences",
        )
        .returning(LotteryRunRow.attempt)
    ).scalar_one_or_none()
    return None if taken is None else Claim(run_id, taken)


def set_phase(session: Session, claim: Claim, phase: str) -> None:
    """What the run is doing now, for whoever polls it."""
    session.execute(_mine(claim).values(phase=phase))


def lottery_input(session: Session, run: LotteryRunRow) -> LotteryInput:
    """The program as the run sees it: sections with their class's grade range, and every
    student with an active star or a priority, with grade and caps."""
    program = session.get(ProgramRow, run.program_id)
    if program is None:
        raise NotFound("program", run.program_id)
    sections = tuple(
        Section(
            id=row.id,
            class_id=row.class_id,
            capacity=row.capacity,
            timeslot_ids=tuple(row.timeslot_ids),
            grade_min=grade_min,
            grade_max=grade_max,
        )
        for row, grade_min, grade_max in session.execute(
            select(SectionRow, ClassRow.grade_min, ClassRow.grade_max)
            .join(ClassRow, ClassRow.id == SectionRow.class_id)
            .where(SectionRow.program_id == run.program_id)
            .order_by(SectionRow.id)
        ).tuples()
        if row.timeslot_ids
    )
    stars: dict[int, set[int]] = defaultdict(set)
    for student_id, class_id in session.execute(
        select(StarRow.student_id, StarRow.class_id).where(
            StarRow.program_id == run.program_id, StarRow.end_date.is_(None)
        )
    ).tuples():
        stars[student_id].add(class_id)
    ranked: dict[int, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    for student_id, timeslot_id, class_id in session.execute(
        select(PriorityRow.student_id, PriorityRow.timeslot_id, PriorityRow.class_id)
        .where(PriorityRow.program_id == run.program_id)
        .order_by(PriorityRow.student_id, PriorityRow.timeslot_id, PriorityRow.rank)
    ).tuples():
        ranked[student_id][timeslot_id].append(class_id)
    grades = dict(
        session.execute(
            select(StudentGradeRow.student_id, StudentGradeRow.grade).where(
                StudentGradeRow.program_id == run.program_id
            )
        )
        .tuples()
        .all()
    )
    caps = {
        row.student_id: row
        for row in session.scalars(
            select(StudentCapRow).where(StudentCapRow.program_id == run.program_id)
        )
    }
    students = []
    for student_id in sorted(stars.keys() | ranked.keys()):
        cap = caps.get(student_id)
        students.append(
            Student(
                id=student_id,
                grade=grades.get(student_id),
                stars=frozenset(stars[student_id]),
                priorities={t: tuple(c) for t, c in ranked[student_id].items()},
                max_sections=cap.max_sections if cap else None,
                max_timeslots=cap.max_timeslots if cap else None,
            )
        )
    rules = program_rules(session, run.program_id)
    return LotteryInput(
        sections=sections,
        students=tuple(students),
        student_capacity=program.student_capacity,
        seed=run.seed,
        rules=rules,
    )


def program_rules(session: Session, program_id: int) -> tuple[ScheduleRule, ...]:
    """The program's schedule constraints, as registration last announced them."""
    held = session.get(ProgramConstraintsRow, program_id)
    return tuple(
        ScheduleRule(c["id"], c["label"], c["condition"], c["requirement"])
        for c in (held.constraints if held else [])
    )


def constraint_sections(session: Session, program_id: int) -> set[int]:
    """The program's sections its constraints ask for by name (its lunch sections)."""
    rules = program_rules(session, program_id)
    if not rules:
        return set()
    sections = [
        Section(row.id, row.class_id, row.capacity, tuple(row.timeslot_ids), 0, 0)
        for row in session.scalars(select(SectionRow).where(SectionRow.program_id == program_id))
    ]
    return required_sections(rules, sections)


def finish(session: Session, claim: Claim, result: LotteryResult, stats: dict[str, Any]) -> bool:
    """Store the result if this is still the run's latest attempt; False when it is not."""
    done = session.execute(
        _mine(claim).values(
            status=RunStatus.DONE, phase=None, stats=stats, finished_at=datetime.now(UTC)
        )
    )
    if not done.rowcount:  # type: ignore[attr-defined]  # a CursorResult for an UPDATE
        return False
    rows = [
        {"run_id": claim.run_id, "student_id": a.student_id, "section_id": a.section_id}
        for a in result.assignments
    ]
    if rows:
        session.execute(insert(AssignmentRow), rows)
    return True


def fail(session: Session, claim: Claim, error: str) -> None:
    session.execute(
        _mine(claim).values(
            status=RunStatus.FAILED, phase=None, error=error, finished_at=datetime.now(UTC)
        )
    )


def _mine(claim: Claim) -> Any:
    return update(LotteryRunRow).where(
        LotteryRunRow.id == claim.run_id,
        LotteryRunRow.status == RunStatus.RUNNING,
        LotteryRunRow.attempt == claim.attempt,
    )


def run_assignments(session: Session, run_id: int) -> list[AssignmentRow]:
    """The run's assignments once it is done (or later); a 409 before."""
    run = get_run(session, run_id)
    if run.status in (RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.FAILED):
        raise Conflict(
            "run_not_done",
            f"Lottery run {run_id} is {run.status}; its assignments exist once it is done.",
        )
    return list(
        session.scalars(
            select(AssignmentRow)
            .where(AssignmentRow.run_id == run_id)
            .order_by(AssignmentRow.student_id, AssignmentRow.section_id)
        )
    )


def stale_runs(session: Session, queued_for: timedelta, grace: timedelta) -> list[int]:
    """Runs whose task message may be lost: queued longer than ``queued_for`` since last sent,
    or running past their time limit plus ``grace`` (the worker died). Marks them sent now."""
    now = datetime.now(UTC)
    candidates = session.scalars(
        select(LotteryRunRow).where(
            or_(
                (LotteryRunRow.status == RunStatus.QUEUED)
                & (LotteryRunRow.enqueued_at < now - queued_for),
                LotteryRunRow.status == RunStatus.RUNNING,
            )
        )
    ).all()
    stale = []
    for run in candidates:
        if run.status == RunStatus.RUNNING:
            started = run.started_at or run.created_at
            limit = timedelta(seconds=run.time_limit_seconds) * 3 + grace
            if started > now - limit or run.enqueued_at > now - limit:
                continue
        run.enqueued_at = now
        stale.append(run.id)
    return stale
