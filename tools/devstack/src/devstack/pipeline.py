"""The registration rush pipeline as real processes: web, partition workers, relay/sweeper (and,
with ``pages``, the students' web in front of it).

Used by the pipeline tests and ``bench/rush.py``; it starts commands by module name and reads
request states with plain SQL, so it imports nothing of the service.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import redis
from sqlalchemy import Engine, text

from devstack.ports import free_port, wait_until_serving
from devstack.redis_server import RedisServer
from devstack.tokens import service_env

PARTITIONS = 4
WORKERS = 2
# The web's own server model and capacity, as the image and `make up` run it.
ROOT = Path(__file__).resolve().parents[4]
GEVENT = ("--config", str(ROOT / "services/registration/gunicorn.conf.py"))
PAGES = ("--config", str(ROOT / "services/web/gunicorn.conf.py"), "web_service.app:create_app()")


class PipelineStack:
    def __init__(
        self,
        database_url: str,
        redis: RedisServer,
        log_dir: Path,
        *,
        partitions: int = PARTITIONS,
        workers: int = WORKERS,
        web_workers: int = 2,
        server_model: tuple[str, ...] = GEVENT,
        web_app: str = "registration_service.api.app:create_app()",
        worker_module: list[str] | None = None,
        relay: bool = True,
        pages: bool = False,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        """The processes accept tokens from :func:`devstack.tokens.issue_token` (they trust
        ``TEST_SIGNER``). ``worker_module`` replaces the decision worker's ``-m`` arguments with
        a Celery worker command (a benchmark's own worker); the solo pool, this worker's
        partition queues (``-Q``) and a node name are appended. ``pages``: the web service too
        (its gevent server as deployed), calling this registration web, its sessions in this
        Redis; at ``pages_url``."""
        self.redis = redis
        self.partitions = partitions
        self.worker_count = workers
        self.web_workers = web_workers
        self.server_model = server_model
        self.web_app = web_app
        self.worker_module = worker_module
        self.relay = relay
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.pages_port = free_port() if pages else None
        self.pages_url = f"http://127.0.0.1:{self.pages_port}" if pages else None
        self.pages: subprocess.Popen[bytes] | None = None
        self.log_dir = log_dir
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis.url,
            **service_env(),  # the services trust the test signer's tokens
            "DECISION_PARTITIONS": str(partitions),
            "REQUEUE_AFTER_SECONDS": "3",
            "SWEEP_INTERVAL_SECONDS": "0.5",
            "LOG_LEVEL": "WARNING",
            **(extra_env or {}),
        }
        self.workers: dict[int, subprocess.Popen[bytes]] = {}
        self.others: list[subprocess.Popen[bytes]] = []

    def _spawn(
        self, name: str, args: list[str], env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        # The child writes to its own copy of the descriptor; ours is closed once it is started.
        with open(self.log_dir / f"{name}.log", "ab") as log:
            return subprocess.Popen(
                args,
                env={**self.env, **(env or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start_worker(self, index: int) -> None:
        if self.worker_module is None:
            module = [
                "registration_service.worker.run",
                "--index",
                str(index),
                "--workers",
                str(self.worker_count),
            ]
        else:
            queues = ",".join(
                f"registration.decide.{q}" for q in range(index, self.partitions, self.worker_count)
            )
            module = [
                *self.worker_module,
                "--pool",
                "solo",
                "-Q",
                queues,
                "-n",
                f"w{index}@%h",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-l",
                "warning",
            ]
        self.workers[index] = self._spawn(f"worker{index}", [sys.executable, "-m", *module])

    def redis_client(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis.url)

    def kill_worker(self, index: int) -> None:
        """SIGKILL, as a crash would: no warm shutdown, no acknowledgement."""
        os.killpg(self.workers[index].pid, signal.SIGKILL)
        self.workers[index].wait()

    def start(self) -> PipelineStack:
        web = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{self.port}"]
        web += ["--workers", str(self.web_workers), *self.server_model, self.web_app]
        self.others.append(self._spawn("web", web))
        if self.relay:
            relay = [sys.executable, "-m", "registration_service.worker.relay"]
            self.others.append(self._spawn("relay", relay))
        for index in range(self.worker_count):
            self.start_worker(index)
        if self.pages_port is not None:
            pages = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{self.pages_port}"]
            env = {
                "REGISTRATION_URL": self.base_url,
                "WEB_SECRET_KEY": os.urandom(24).hex(),
                "WEB_CONCURRENCY": str(self.web_workers),
            }
            self.pages = self._spawn("pages", [*pages, *PAGES], env)
            wait_until_serving(self.pages_port, "/healthz", self.log_dir, 90)
        self.wait_until_serving()
        self.wait_until_workers_ready()
        return self

    def wait_until_workers_ready(self, timeout: float = 90) -> None:
        """Until every decision worker answers a ping: booted, connected and consuming, so a
        measurement that starts now does not count their start-up."""
        from celery import Celery

        control = Celery(broker=self.redis.url)
        deadline = time.monotonic() + timeout
        try:
            while len(control.control.ping(timeout=0.5)) < self.worker_count:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"workers not ready in {timeout:.0f}s; see {self.log_dir}")
        finally:
            control.close()

    def wait_until_serving(self, timeout: float = 90) -> None:
        wait_until_serving(self.port, "/healthz", self.log_dir, timeout)

    def stop(self) -> None:
        everything = [*self.workers.values(), *self.others, *([self.pages] if self.pages else [])]
        for process in everything:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in everything:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


def queued_count(engine: Engine) -> int:
    with engine.connect() as connection:
        query = text("SELECT count(*) FROM registration_requests WHERE status = 'queued'")
        return connection.execute(query).scalar_one()


def wait_until_decided(engine: Engine, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while (queued := queued_count(engine)) > 0:
        if time.monotonic() > deadline:
            raise AssertionError(f"{queued} requests still queued after {timeout:.0f}s")
        time.sleep(0.2)


def wait_for_a_lock_wait(engine: Engine, blocker: int | None = None, timeout: float = 30) -> None:
    """Until some PostgreSQL backend is blocked on a lock (by backend ``blocker``, if given):
    a test holds a lock on purpose and waits for the code under test to run into it."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
        " AND (CAST(:blocker AS integer) IS NULL OR :blocker = ANY(pg_blocking_pids(pid)))"
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            if connection.execute(query, {"blocker": blocker}).scalar_one():
                return
        time.sleep(0.05)
    raise AssertionError(f"no backend waited on a lock within {timeout:.0f}s")


def post_request(
    client: httpx.Client, program_id: int, token: str, body: dict, key: str | None = None
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    if key:
        headers["Idempotency-Key"] = key
    return client.post(
        f"/v1/programs/{program_id}/registration-requests", json=body, headers=headers
    )
