"""``make up``: Redis, migrations and the three services on this machine, in the foreground.

Prints a line with ``ready`` once every service answers ``/readyz``; Ctrl-C stops everything.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

import httpx

from devstack.redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[4]
VAR = Path(os.environ.get("VAR_DIR", ROOT / "var"))


@dataclass(frozen=True)
class Service:
    name: str
    package: str
    port: int

    @property
    def database_url(self) -> str:
        return os.environ.get(
            f"{self.name.upper()}_DATABASE_URL", f"sqlite:///{VAR / (self.name + '.sqlite3')}"
        )


SERVICES = [
    Service("registration", "registration_service", int(os.environ.get("REGISTRATION_PORT", 8001))),
    Service("profile", "profile_service", int(os.environ.get("PROFILE_PORT", 8002))),
    Service("lottery", "lottery_service", int(os.environ.get("LOTTERY_PORT", 8003))),
]


def _env(service: Service, redis_url: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": service.database_url, "REDIS_URL": redis_url}


def _start_processes(redis_url: str) -> list[subprocess.Popen[bytes]]:
    processes = []
    for service in SERVICES:
        import_module(f"{service.package}.migrate").upgrade(service.database_url)
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "--bind",
                    f"127.0.0.1:{service.port}",
                    "--workers",
                    "2",
                    "--threads",
                    "8",
                    "--access-logfile",
                    "-",
                    "--graceful-timeout",
                    "5",
                    "--preload",  # import the app once, then fork: a start-up in seconds
                    "--log-level",
                    "warning",
                    f"{service.package}.api.app:create_app()",
                ],
                env=_env(service, redis_url),
                start_new_session=True,  # its own process group: stopped whole, workers too
            )
        )
    return processes


def _wait_ready(processes: list[subprocess.Popen[bytes]], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    pending = {service.name: service for service in SERVICES}
    while pending:
        for name, service in list(pending.items()):
            try:
                if (
                    httpx.get(f"http://127.0.0.1:{service.port}/readyz", timeout=1).status_code
                    == 200
                ):
                    del pending[name]
            except httpx.HTTPError:
                pass
        if any(p.poll() is not None for p in processes):
            raise RuntimeError("a service exited during start-up; see its output above")
        if pending and time.monotonic() > deadline:
            raise TimeoutError(f"not ready after {timeout:.0f}s: {', '.join(pending)}")
        time.sleep(0.2)


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signum)


def _stop(processes: list[subprocess.Popen[bytes]], redis: RedisServer) -> None:
    for process in processes:
        _signal_group(process, signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait()
    redis.stop()


def main() -> None:
    VAR.mkdir(parents=True, exist_ok=True)
    redis = RedisServer(VAR / "redis", port=int(os.environ.get("REDIS_PORT", 6379))).start()
    processes: list[subprocess.Popen[bytes]] = []
    # Ctrl-C stops everything, even when started from a shell that ignores SIGINT for
    # background jobs (Python then leaves SIGINT ignored); SIGTERM stops it the same way.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        processes = _start_processes(redis.url)
        _wait_ready(processes)
        urls = "  ".join(f"{s.name}=http://127.0.0.1:{s.port}" for s in SERVICES)
        print(f"ready: {urls}  redis={redis.url}  (Ctrl-C stops everything)", flush=True)
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
        print("a service exited; stopping everything", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("\nstopping...", flush=True)
    finally:
        _stop(processes, redis)
        print("stopped", flush=True)


if __name__ == "__main__":
    main()
