"""Keep a handful of named processes running: one that exits is started again after a back-off.

A short hand-written loop rather than a library: honcho stops every process when one exits
(what ``make up`` did before) and has no restart; supervisord and circus are daemons driven by
their own config files and control sockets, a second process manager to install, configure and
stop, where ``make up`` needs a foreground runner whose Ctrl-C stops everything it started.
Each process gets its own process group, so a stop (or the clean-up after a crash) reaches its
forked children too, e.g. gunicorn's workers.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

FIRST_DELAY = 1.0
MAX_DELAY = 30.0
STABLE_AFTER = 60.0  # a process that stayed up this long starts again from FIRST_DELAY


def describe_exit(returncode: int) -> str:
    """``exit 1``, or ``exit -9 SIGKILL`` for a process killed by a signal."""
    if returncode < 0:
        with contextlib.suppress(ValueError):
            return f"exit {returncode} {signal.Signals(-returncode).name}"
    return f"exit {returncode}"


@dataclass
class Program:
    """One named command, started again whenever it exits."""

    name: str
    command: Sequence[str]
    env: Mapping[str, str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    delay: float = FIRST_DELAY
    due: float | None = None  # when to start it again, while it is down
    restarts: int = field(default=0)
    stop_last: bool = False  # a server the others use (Redis): stopped after them

    def start(self) -> None:
        # Its own process group: stopped whole, forked workers included.
        self.process = subprocess.Popen(self.command, env=dict(self.env), start_new_session=True)
        self.started_at = time.monotonic()
        self.due = None

    def tend(self, now: float) -> bool:
        """Notice an exit and schedule the restart, or restart when due; True if it changed."""
        if self.process is None:
            return False
        if self.due is not None:
            if now < self.due:
                return False
            self.restarts += 1
            self.start()
            return True
        returncode = self.process.poll()
        if returncode is None:
            return False
        signal_group(self.process, signal.SIGKILL)  # orphans would hold its port or its queue
        if now - self.started_at >= STABLE_AFTER:
            self.delay = FIRST_DELAY
        print(
            f"restarting {self.name} ({describe_exit(returncode)}) in {self.delay:.1f} s",
            file=sys.stderr,
            flush=True,
        )
        self.due = now + self.delay
        self.delay = min(self.delay * 2, MAX_DELAY)
        return False


def signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


class Supervisor:
    """Starts its programs, restarts them as they exit, stops them all; optionally records
    name -> pid in a JSON file (what tests and people use to find a process)."""

    def __init__(self, state_file: Path | None = None) -> None:
        self.programs: list[Program] = []
        self.state_file = state_file

    def start(
        self, name: str, command: Sequence[str], env: Mapping[str, str], *, stop_last: bool = False
    ) -> None:
        program = Program(name, command, env, stop_last=stop_last)
        program.start()
        self.programs.append(program)
        self._write_state()

    def tend(self) -> None:
        """One pass: call it every fraction of a second."""
        now = time.monotonic()
        if any([program.tend(now) for program in self.programs]):
            self._write_state()

    def stop(self, timeout: float = 15) -> None:
        """Stop every program: the clients first, then the servers they use (``stop_last``), so
        none of them spends its last seconds failing to reach Redis."""
        for last in (False, True):
            running = [
                p.process
                for p in self.programs
                if p.process is not None and p.due is None and p.stop_last is last
            ]
            for process in running:
                signal_group(process, signal.SIGTERM)
            for process in running:
                try:
                    process.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    signal_group(process, signal.SIGKILL)
                    process.wait()
        if self.state_file is not None:
            self.state_file.unlink(missing_ok=True)

    def _write_state(self) -> None:
        if self.state_file is None:
            return
        pids = {p.name: p.process.pid for p in self.programs if p.process and p.due is None}
        temporary = self.state_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(pids, indent=2))
        temporary.replace(self.state_file)
