"""The lottery service as real processes: gunicorn, its Celery worker and its relay.

Used beside a :class:`~devstack.pipeline.PipelineStack` (the registration side) by the
end-to-end lottery test and ``bench/lottery_commit.py``. Like the pipeline it starts commands by
module name and imports nothing of the service.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from devstack.ports import free_port, wait_until_serving
from devstack.redis_server import RedisServer
from devstack.tokens import service_env
from devstack.up import LOTTERY_WORKER


class LotteryStack:
    def __init__(
        self,
        database_url: str,
        redis: RedisServer,
        log_dir: Path,
        *,
        time_limit_seconds: float = 10,
    ) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.redis = redis
        self.log_dir = log_dir
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis.url,
            **service_env(),  # the services trust the test signer's tokens
            "LOTTERY_TIME_LIMIT_SECONDS": str(time_limit_seconds),
            "LOG_LEVEL": "WARNING",
        }
        self.processes: list[subprocess.Popen[bytes]] = []

    def _spawn(self, name: str, args: list[str]) -> None:
        with open(self.log_dir / f"{name}.log", "ab") as log:
            self.processes.append(
                subprocess.Popen(
                    [sys.executable, "-m", *args],
                    env=self.env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )

    def start(self) -> LotteryStack:
        web = ["gunicorn", "--bind", f"127.0.0.1:{self.port}", "--workers", "2"]
        web += ["--threads", "8", "lottery_service.api.app:create_app()"]
        self._spawn("lottery-web", web)
        self._spawn("lottery-relay", ["lottery_service.worker.relay"])
        self._spawn("lottery-worker", LOTTERY_WORKER)
        wait_until_serving(self.port, "/readyz", self.log_dir)
        return self

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
