"""Do open outcome streams starve the requests? ``python bench/open_streams.py``.

Opens ``--streams`` Server-Sent Events streams (one per student, as browsers waiting for their
outcomes would), then sends ``--requests`` registration requests over ``--connections``
connections (for at most ``--seconds``; a request that gets no answer in 10 s counts as failed)
and reports how many were acknowledged and how fast. It runs the registration web
twice with two gunicorn workers each: with gevent workers (what ``make up`` and the image use)
and, for contrast, with 8 threads per worker.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from devstack.pipeline import GEVENT, PipelineStack
from devstack.postgres_server import PostgresServer
from devstack.redis_server import RedisServer
from registration_service.migrate import upgrade
from rush import SECRET, plan, seed
from servicekit.auth import issue_token
from tqdm import tqdm

THREADS = ("--threads", "8")


async def hold_streams(base_url: str, students: int, opened: list[int]) -> None:
    """Open one outcome stream per student and keep reading until cancelled."""
    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:

        async def watch(student: int) -> None:
            token = issue_token(SECRET, student, "student", 3600)
            url = f"{base_url}/v1/students/{student}/outcomes"
            headers = {"Authorization": f"Bearer {token}"}
            try:
                async with client.get(url, headers=headers) as response:
                    await response.content.readline()  # "retry: 2000": the stream is open
                    opened.append(student)
                    async for _line in response.content:
                        pass
            except (aiohttp.ClientError, TimeoutError):
                return

        await asyncio.gather(*(watch(student) for student in range(1, students + 1)))


async def measure(
    base_url: str, program: int, jobs: list, connections: int, streams: int, budget: float
) -> dict[str, float]:
    opened: list[int] = []
    holder = asyncio.create_task(hold_streams(base_url, streams, opened))
    deadline = time.monotonic() + 60
    with tqdm(total=streams, desc="  streams opened", leave=False) as bar:
        while len(opened) < streams and time.monotonic() < deadline:
            bar.update(len(opened) - bar.n)
            await asyncio.sleep(0.2)
    queue = list(jobs)
    latencies: list[float] = []
    failures = 0
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as client:

        async def connection() -> None:
            nonlocal failures
            while queue and time.monotonic() < begun + budget:
                job = queue.pop()
                token = issue_token(SECRET, job.student, "student", 3600)
                headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": job.key}
                body = {"student_id": job.student, "action": "enroll", "section_id": job.section}
                started = time.monotonic()
                try:
                    url = f"{base_url}/v1/programs/{program}/registration-requests"
                    async with client.post(url, json=body, headers=headers) as response:
                        await response.read()
                        ok = response.status == 202
                except (aiohttp.ClientError, TimeoutError):
                    ok = False
                if ok:
                    latencies.append(time.monotonic() - started)
                else:
                    failures += 1

        begun = time.monotonic()
        await asyncio.gather(*(connection() for _ in range(connections)))
        elapsed = time.monotonic() - begun
    holder.cancel()
    latencies.sort()

    def pct(p: float) -> float:
        if not latencies:
            return float("nan")
        return round(1000 * latencies[min(len(latencies) - 1, int(p / 100 * len(latencies)))], 1)

    return {
        "streams_open": len(opened),
        "acknowledged": len(latencies),
        "failed_or_timed_out": failures,
        "not_sent_in_budget": len(queue),
        "acknowledged_per_s": round(len(latencies) / elapsed, 1),
        "p50_ack_ms": pct(50),
        "p99_ack_ms": pct(99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--streams", type=int, default=2000)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60, help="time budget for the requests")
    args = parser.parse_args()
    postgres = PostgresServer().start()
    scratch = Path(tempfile.mkdtemp(prefix="streams-"))
    results = {}
    try:
        for name, model in (("gevent", GEVENT), ("threads", THREADS)):
            rng = random.Random(7)
            url = postgres.create_database(f"streams_{name}")
            upgrade(url)
            program, sections = seed(url, max(args.streams, args.requests), 40, rng)
            jobs = plan(sections, args.requests, 1, 0.0, rng)
            redis_server = RedisServer(scratch / f"redis-{name}").start()
            logs = scratch / f"logs-{name}"
            logs.mkdir()
            stack = PipelineStack(url, redis_server, SECRET, logs, server_model=model).start()
            print(f"{name}: {args.streams} open streams, {len(jobs)} requests ...", flush=True)
            try:
                results[name] = asyncio.run(
                    measure(
                        stack.base_url, program, jobs, args.connections, args.streams, args.seconds
                    )
                )
            finally:
                stack.stop()
                redis_server.stop()
    finally:
        postgres.stop()
    print(f"\n{'figure':24}" + "".join(f"{name:>12}" for name in results))
    for key in next(iter(results.values())):
        print(f"{key:24}" + "".join(f"{results[name][key]:>12}" for name in results))


if __name__ == "__main__":
    sys.exit(main())
