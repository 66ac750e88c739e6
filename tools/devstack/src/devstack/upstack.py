"""``make up`` for a test: ``python -m devstack.up`` in a folder of its own, on free ports, its
output read as it comes (a full pipe would stall gunicorn's access log), its stderr (the
supervisor's restart lines) kept in ``VAR_DIR/up.stderr``, stopped with Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from devstack.ports import free_port

PORTS = (
    "WEB_PORT",
    "REGISTRATION_PORT",
    "PROFILE_PORT",
    "LOTTERY_PORT",
    "IDENTITY_PORT",
    "REDIS_PORT",
    "FLOWER_PORT",
)
# The stack signs and verifies its own tokens: a caller's token settings must not leak in.
TOKEN_SETTINGS = ("JWT_JWKS", "JWT_JWKS_URL", "JWT_JWKS_FILE", "JWT_ISSUER", "JWT_AUDIENCE")


class UpStack:
    def __init__(self, var: Path, **env: str) -> None:
        self.var = Path(var)
        self.ports = {name: free_port() for name in PORTS}
        self.env = {**os.environ, "VAR_DIR": str(var), **{k: str(v) for k, v in self.ports.items()}}
        for name in TOKEN_SETTINGS:
            self.env.pop(name, None)
        self.env |= env
        self.printed: list[str] = []
        self.process: subprocess.Popen[str] | None = None
        self.stderr_log = self.var / "up.stderr"
        self._reader: threading.Thread | None = None

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[f'{name.upper()}_PORT']}"

    def start(self, timeout: float = 180) -> UpStack:
        with open(self.stderr_log, "w") as stderr:  # the child keeps its own copy
            self.process = subprocess.Popen(
                [sys.executable, "-m", "devstack.up"],
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
            )
        stdout = self.process.stdout
        assert stdout is not None
        self._reader = threading.Thread(target=lambda: self.printed.extend(stdout), daemon=True)
        self._reader.start()
        try:
            self.await_line("ready:", timeout)
        except AssertionError as failed:
            # Stopped, its pipe closed, with the traceback up printed: the reason, not the echo.
            self.stop()
            raise AssertionError(f"{failed}\n{self.stderr_tail()}") from None
        return self

    def stderr_tail(self, lines: int = 30) -> str:
        """The last lines up wrote to stderr: a traceback, the supervisor's restarts."""
        try:
            text = self.stderr_log.read_text(errors="replace")
        except OSError:
            return ""
        return "".join(text.splitlines(keepends=True)[-lines:])

    def await_line(self, start: str, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while True:
            found = [line for line in self.printed if line.startswith(start)]
            if found:
                return found[0]
            running = self.process is not None and self.process.poll() is None
            if not running or time.monotonic() > deadline:
                raise AssertionError(f"no line starting {start!r}: {self.printed[-5:]}")
            time.sleep(0.2)

    def stop(self) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=60)
        if self._reader is not None:
            self._reader.join(timeout=10)
        if self.process.stdout is not None:
            self.process.stdout.close()
        return self.process.returncode
