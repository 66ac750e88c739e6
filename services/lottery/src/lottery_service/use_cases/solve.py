"""Solving one run: claim it, read the program, optimise, keep the program's schedule
constraints (``schedule_rules.repair``), check, measure, store.

Each step is its own short transaction, so a poller sees the run's phase, and no database
transaction stays open for the solver's seconds. A worker lost mid-solve leaves the run
``running``; the relay sends it again and the next claim supersedes the lost attempt.
"""

from __future__ import annotations

import logging
import time

from sqlalchemy.orm import Session, sessionmaker

from lottery_service.domain.check import violations
from lottery_service.domain.optimizer import lp_bounds, optimise
from lottery_service.domain.schedule_rules import described, repair
from lottery_service.domain.stats import lottery_stats
from lottery_service.metrics import record_run
from lottery_service.use_cases.runs import claim, fail, finish, get_run, lottery_input, set_phase

log = logging.getLogger(__name__)


def solve_run(sessions: sessionmaker[Session], run_id: int) -> str | None:
    """Solve the run if it is still to be solved; its final status, or None when another
    attempt owns it now (or it was finished already)."""
    with sessions.begin() as session:
        taken = claim(session, run_id)
    if taken is None:
        return None
    with sessions.begin() as session:
        run = get_run(session, run_id)
        lottery = lottery_input(session, run)
        time_limit = run.time_limit_seconds
        set_phase(session, taken, f"solving ({len(lottery.students)} students)")
    started = time.perf_counter()
    try:
        result = optimise(lottery, time_limit=time_limit)
        with sessions.begin() as session:
            set_phase(session, taken, "checking and measuring")
        result, repairs = repair(lottery, result)  # the program's schedule constraints
        broken = violations(lottery, result)
        if broken:
            raise RuntimeError(f"the result breaks {len(broken)} rules, first: {broken[0]}")
        stats = lottery_stats(lottery, result)
        stats["constraint_repairs"] = described(repairs)
        stats["lp_bounds"] = lp_bounds(lottery)
        stats["run_seconds"] = round(time.perf_counter() - started, 3)
    except Exception as exc:  # a bug or a solver failure: the run says so, and stays failed
        log.exception("lottery run %d failed", run_id)
        with sessions.begin() as session:
            fail(session, taken, f"{type(exc).__name__}: {exc}")
        record_run("failed", time.perf_counter() - started)
        return "failed"
    with sessions.begin() as session:
        if not finish(session, taken, result, stats):
            log.warning("lottery run %d: a newer attempt owns it; result dropped", run_id)
            record_run("dropped", time.perf_counter() - started)
            return None
    record_run("done", time.perf_counter() - started, stats)
    log.info(
        "lottery run %d done: %d enrollments, %s",
        run_id,
        len(result.assignments),
        stats["solver"],
    )
    return "done"
