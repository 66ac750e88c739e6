"""A throttled cycle (a sweep) runs at most once per interval and keeps its name for the log."""

from __future__ import annotations

import time

from servicekit.background import every


def test_a_sweep_runs_at_most_once_per_interval():
    calls = []

    def sweep() -> int:
        calls.append(time.monotonic())
        return 1

    throttled = every(0.2, sweep)
    assert throttled.__name__ == "sweep"
    assert [throttled(), throttled()] == [1, 0]  # the second falls inside the interval
    time.sleep(0.25)
    assert throttled() == 1
    assert len(calls) == 2
