"""``make up``: Redis, migrations, the three services, the decision workers and each service's
background process (outbox relay, sweeper, event consumers), in the foreground. Prints a line
with ``ready`` once every service answers ``/readyz``; Ctrl-C stops everything it started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import import_module
from pathlib import Path

import httpx

from devstack.redis_server import RedisServer

ROOT = Path(__file__).resolve().parents[4]
VAR = Path(os.environ.get("VAR_DIR", ROOT / "var"))
DECISION_WORKERS = int(os.environ.get("DECISION_WORKERS", 2))

# The registration web holds one Server-Sent Events stream per watching student: gevent
# workers keep each as a cheap greenlet, so open streams never take the threads that accept
# requests. The other services answer short requests: threads suffice.
GEVENT = ["--worker-class", "gevent", "--worker-connections", "2000"]
THREADS = ["--threads", "8", "--preload"]
# gunicorn answers these itself, before the app, in plain text (not the JSON envelope):
# a request line over 8,190 bytes is a 414, more than 64 headers or one over 8,190 bytes a 431.
LIMITS = [
    "--limit-request-line",
    "8190",
    "--limit-request-fields",
    "64",
    "--limit-request-field_size",
    "8190",
]


@dataclass(frozen=True)
class Service:
    name: str
    package: str
    port: int
    server_model: list[str]
    background: list[list[str]] = field(default_factory=list)

    @property
    def database_url(self) -> str:
        default = f"sqlite:///{VAR / (self.name + '.sqlite3')}"
        return os.environ.get(f"{self.name.upper()}_DATABASE_URL", default)

    def web_command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            "2",
            *self.server_model,
            *LIMITS,
            "--graceful-timeout",
            "5",
            "--access-logfile",
            "-",
            "--log-level",
            "warning",
            f"{self.package}.api.app:create_app()",
        ]


# One run at a time: a solve takes a core for up to its time limit.
LOTTERY_WORKER = [
    "celery",
    "-A",
    "lottery_service.worker.celery_app",
    "worker",
    "-Q",
    "lottery.solve",
    "--pool",
    "solo",
    "-n",
    "lottery@%h",
    "-l",
    "warning",
]

SERVICES = [
    Service(
        "registration",
        "registration_service",
        int(os.environ.get("REGISTRATION_PORT", 8001)),
        GEVENT,
        background=[
            *(
                [
                    "registration_service.worker.run",
                    "--index",
                    str(i),
                    "--workers",
                    str(DECISION_WORKERS),
                ]
                for i in range(DECISION_WORKERS)
            ),
            ["registration_service.worker.relay"],
        ],
    ),
    Service(
        "profile",
        "profile_service",
        int(os.environ.get("PROFILE_PORT", 8002)),
        THREADS,
        background=[["profile_service.worker.relay"]],
    ),
    Service(
        "lottery",
        "lottery_service",
        int(os.environ.get("LOTTERY_PORT", 8003)),
        THREADS,
        background=[
            LOTTERY_WORKER,
            ["lottery_service.worker.relay"],
        ],
    ),
]


def _spawn(command: list[str], service: Service, redis_url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": service.database_url, "REDIS_URL": redis_url}
    # Its own process group: stopped whole, forked workers included.
    return subprocess.Popen(command, env=env, start_new_session=True)


def _start_processes(redis_url: str) -> list[subprocess.Popen[bytes]]:
    processes = []
    for service in SERVICES:
        import_module(f"{service.package}.migrate").upgrade(service.database_url)
        processes.append(_spawn(service.web_command(), service, redis_url))
        for module_args in service.background:
            processes.append(_spawn([sys.executable, "-m", *module_args], service, redis_url))
    return processes


def _is_ready(service: Service) -> bool:
    try:
        url = f"http://127.0.0.1:{service.port}/readyz"
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _wait_ready(processes: list[subprocess.Popen[bytes]], timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    pending = list(SERVICES)
    while pending:
        pending = [service for service in pending if not _is_ready(service)]
        if any(p.poll() is not None for p in processes):
            raise RuntimeError("a process exited during start-up; see its output above")
        if pending and time.monotonic() > deadline:
            names = ", ".join(s.name for s in pending)
            raise TimeoutError(f"not ready after {timeout:.0f}s: {names}")
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
    # Ctrl-C stops everything, even when started from a shell that ignores SIGINT for
    # background jobs (Python then leaves SIGINT ignored); SIGTERM stops it the same way.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    redis = RedisServer(VAR / "redis", port=int(os.environ.get("REDIS_PORT", 6379))).start()
    processes: list[subprocess.Popen[bytes]] = []
    try:
        processes = _start_processes(redis.url)
        _wait_ready(processes)
        urls = "  ".join(f"{s.name}=http://127.0.0.1:{s.port}" for s in SERVICES)
        print(f"ready: {urls}  redis={redis.url}  (Ctrl-C stops everything)", flush=True)
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
        print("a process exited; stopping everything", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("\nstopping...", flush=True)
    finally:
        _stop(processes, redis)
        print("stopped", flush=True)


if __name__ == "__main__":
    main()
