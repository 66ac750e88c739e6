"""An opening's whole audience, measured: ``make bench-audience`` (``python bench/audience.py``).

On durable PostgreSQL and Redis, with the rush stack (gevent web with two workers, two decision
workers, the relay), ``--students`` students (10,000) with complete profiles each send 1-6
enrolls (about 3.5 per student) over 200 connections, into 400 sections. It runs four times,
each on a fresh database and Redis, and each from a PostgreSQL checkpoint (the last run's writes
are not this one's to flush):

1. **quiet**: no page open: how fast the requests are acknowledged;
2. **audience**: every student first opens their outcome stream (from ``--clients`` client
   processes, as browsers), then sends the same requests; the pages keep reading until every
   outcome arrived;
3. **web audience** (``--no-through-web`` skips it): the same, but each page is the students'
   web's ``/live/outcomes`` with the student's session cookie, as ``app.js`` opens it, and the
   web relays the registration service's stream (the sessions are written to the web's store
   as its sign-in writes them; the requests still go to the registration service, as the
   quiet runs send them);
4. **quiet** again: each audience is compared with the mean of the two quiet runs, so the
   machine's drift over the run (13 % between two quiet runs here) does not favour or count
   against it. Each run's database is dropped once it is measured (its autovacuum is not the
   next run's work).

It reports streams held, streams the server ended, requests acknowledged per second against the
quiet run, outcomes delivered to the open pages, the p50/p99 of the time from decision
(``decided_at``) to the page and from the 202 to the page, the most Redis connections any web
process held, and the web's CPU per delivered event; writes ``docs/audience.json`` and prints
each target with its verdict.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import redis
from devstack.audience import (
    Ack,
    Audience,
    Watched,
    children,
    cpu_seconds,
    percentile,
    raise_open_files_limit,
    send,
    tcp_connections_by_pid,
)
from devstack.pipeline import PipelineStack, wait_until_decided
from devstack.postgres_server import PostgresServer
from devstack.redis_server import RedisServer
from devstack.tokens import issue_token
from registration_service.adapters.db import make_session_factory
from registration_service.migrate import upgrade
from rush import seed
from sqlalchemy import text
from tqdm import tqdm
from web_service.app import SESSION_COOKIE
from web_service.sessions import BrowserSession, SessionStore

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


class RedisSampler(threading.Thread):
    """The most Redis connections any registration web process held (and any process of the
    students' web, when it runs), sampled every 2 s."""

    def __init__(self, stack: PipelineStack, redis_port: int) -> None:
        super().__init__(daemon=True)
        self.stack, self.port = stack, redis_port
        self.most = 0
        self.most_pages = 0
        self.running = True

    def run(self) -> None:
        while self.running:
            try:
                counts = tcp_connections_by_pid(children(self.stack.others[0].pid), self.port)
                self.most = max([self.most, *counts.values()])
                if self.stack.pages is not None:
                    pages = tcp_connections_by_pid(children(self.stack.pages.pid), self.port)
                    self.most_pages = max([self.most_pages, *pages.values()])
            except OSError:
                pass
            time.sleep(2.0)  # pools only grow: a sample every 2 s sees their peak


def web_sessions(redis_url: str, tokens: dict[int, str]) -> dict[int, str]:
    """Each student's session in the students' web, as its sign-in writes it (the tokens the
    services trust; sign-in itself, argon2 in the identity service, is not what is measured):
    student -> the session cookie's value."""
    store = SessionStore(redis.Redis.from_url(redis_url), 7200)
    sessions = {}
    for student, token in tokens.items():
        sessions[student] = store.create(
            BrowserSession(
                account_id=student,
                role="student",
                email=f"student{student}@bench.example.org",
                name=f"Student {student}",
                access_token=token,
                refresh_token="unused: the token outlives the run",
                access_expires_at=time.time() + 7200,
            )
        )
    return sessions


def jobs_for(students: int, sections: list[int], rng: random.Random) -> list[tuple[int, int]]:
    jobs = [
        (student, section)
        for student in range(1, students + 1)
        for section in rng.sample(sections, rng.randint(1, 6))
    ]
    rng.shuffle(jobs)
    return jobs


def run(
    name: str, args: argparse.Namespace, postgres: PostgresServer, scratch: Path
) -> dict[str, float | int]:
    rng = random.Random(args.seed)
    url = postgres.create_database(f"audience_{name}")
    upgrade(url)
    program, sections = seed(url, args.students, 400, rng)
    jobs = jobs_for(args.students, sections, rng)
    tokens = {s: issue_token(s, "student", 7200) for s in range(1, args.students + 1)}
    redis_server = RedisServer(scratch / f"redis-{name}").start()
    logs = scratch / f"logs-{name}"
    logs.mkdir()
    through_web = name == "web_audience"
    stack = PipelineStack(
        url,
        redis_server,
        logs,
        partitions=8,
        pages=through_web,
        extra_env={"REQUEUE_AFTER_SECONDS": "30", "DB_POOL_SIZE": "20"},
    ).start()
    sampler = RedisSampler(stack, redis_server.port)
    sampler.start()
    audience = None
    try:
        if through_web:
            assert stack.pages_url is not None
            sessions = web_sessions(redis_server.url, tokens)
            audience = Audience(
                stack.pages_url, sessions, processes=args.clients, cookie=SESSION_COOKIE
            )
        elif name == "audience":
            audience = Audience(stack.base_url, tokens, processes=args.clients)
        if audience is not None:
            with tqdm(total=args.students, desc="  streams opened", leave=False) as bar:
                audience.open(timeout=300, progress=lambda n: bar.update(n - bar.n))
            print(f"  {audience.opened} streams open", flush=True)
        checkpoint(url)
        webs = children(stack.others[0].pid)
        parts = cpu_parts(stack, audience, redis_server, postgres)
        parts_before = {part: cpu_seconds(pids) for part, pids in parts.items()}
        cpu_before = cpu_seconds(webs)
        spy = profile(stack, scratch / f"profile-{name}.txt") if args.profile else None
        print(f"  {name}: {len(jobs)} requests over {args.connections} connections", flush=True)
        acks = send(stack.base_url, program, jobs, tokens, args.connections)
        engine, _ = make_session_factory(url)
        wait_until_decided(engine, timeout=900)
        decided = decided_at(engine)
        engine.dispose()
        watched = Watched()
        if audience is not None:
            expected = len({a.request_id for a in acks if a.status == 202})
            with tqdm(total=expected, desc="  outcomes on pages", leave=False) as bar:
                audience.await_deliveries(
                    expected, timeout=300, progress=lambda n: bar.update(min(n, expected) - bar.n)
                )
        cpu_spent = cpu_seconds(webs) - cpu_before
        cpu_by_part = {
            part: round(cpu_seconds(pids) - parts_before[part], 1) for part, pids in parts.items()
        }
        if spy is not None:
            spy.send_signal(signal.SIGINT)  # py-spy writes its file on interrupt
            spy.wait()
            print_profile(scratch / f"profile-{name}.txt")
        if audience is not None:
            watched = audience.close()
            audience = None
    finally:
        if audience is not None:
            audience.close()
        sampler.running = False
        stack.stop()
        redis_server.stop()
        postgres.drop_database(f"audience_{name}")
    result = figures(
        acks, decided, watched, sampler.most, cpu_spent, with_pages=bool(watched.opened)
    )
    if through_web:
        result["redis_connections_per_pages_process_max"] = sampler.most_pages
    return result | {f"cpu_s_{part}": spent for part, spent in cpu_by_part.items()}


def checkpoint(url: str) -> None:
    """Flush what earlier runs left in PostgreSQL's buffers now, not during this run."""
    engine, _ = make_session_factory(url)
    with engine.connect() as connection:
        connection.execute(text("CHECKPOINT"))
    engine.dispose()


def cpu_parts(
    stack: PipelineStack,
    audience: Audience | None,
    redis_server: RedisServer,
    postgres: PostgresServer,
) -> dict[str, list[int]]:
    """The processes of each part, to say where the two cores went: the sender and the stream
    clients are the load generator's (browsers, in production, are not on the server)."""
    parts = {
        "relay": [p.pid for p in stack.others[1:]],
        "deciders": [w.pid for w in stack.workers.values()],
        "redis": [redis_server.process.pid],
        "postgres": postgres.pids(),
        "sender": [os.getpid()],
    }
    if audience is not None:
        parts["stream_clients"] = audience.pids()
    if stack.pages is not None:
        parts["pages_web"] = [stack.pages.pid, *children(stack.pages.pid)]
    return parts


def profile(stack: PipelineStack, output: Path) -> subprocess.Popen[bytes]:
    """py-spy on the web's workers, as collapsed stacks (``--profile``)."""
    spy = str(Path(sys.executable).with_name("py-spy"))
    command = [spy, "record", "--pid", str(stack.others[0].pid), "--subprocesses"]
    command += ["--rate", "100", "--format", "raw", "--output", str(output)]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def print_profile(path: Path, top: int = 30) -> None:
    """The functions the web spent the most samples in, inclusive and on top of the stack."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")[1:]  # the first is the process
        samples = int(count)
        total += samples
        for frame in set(frames):
            inclusive[frame] += samples
        if frames:
            own[frames[-1]] += samples
    print(f"  profile ({total} samples): inclusive")
    for frame, samples in inclusive.most_common(top):
        print(f"    {100 * samples / total:5.1f} %  {frame}")
    print("  on top of the stack")
    for frame, samples in own.most_common(top):
        print(f"    {100 * samples / total:5.1f} %  {frame}")


def decided_at(engine) -> dict[str, float]:
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT id, decided_at FROM registration_requests"))
        return {row.id: row.decided_at.timestamp() for row in rows if row.decided_at}


def figures(
    acks: list[Ack],
    decided: dict[str, float],
    watched: Watched,
    redis_most: int,
    cpu_spent: float,
    with_pages: bool,
) -> dict[str, float | int]:
    ok = [a for a in acks if a.status == 202 and a.request_id]
    acked_at = {a.request_id: a.acked for a in ok}
    span = max(a.acked for a in ok) - min(a.sent for a in acks)
    result: dict[str, float | int] = {
        "requests": len(acks),
        "acknowledged": len(ok),
        "acknowledged_per_s": round(len(ok) / span, 1),
        "redis_connections_per_web_process_max": redis_most,
        "web_cpu_s": round(cpu_spent, 1),
    }
    if not with_pages:
        return result
    seen = watched.first_seen()
    delivered = [r for r in acked_at if r in seen]
    to_page = [(seen[r] - decided[r]) * 1000 for r in delivered if r in decided]
    # The student's stream id is the moment Redis took the entry: the relay's part of the
    # time from decision to page, and the fan-out's (listener, fetcher, page writer) after it.
    in_stream = {d.request_id: int(d.stream_id.split("-")[0]) / 1000 for d in watched.deliveries}
    to_stream = [(in_stream[r] - decided[r]) * 1000 for r in delivered if r in decided]
    stream_to_page = [(seen[r] - in_stream[r]) * 1000 for r in delivered]
    ack_to_page = [(seen[r] - acked_at[r]) * 1000 for r in delivered]
    return result | {
        "streams_held": watched.opened,
        "streams_ended_by_server": watched.ended_by_server,
        "stream_errors": sum(watched.errors.values()),
        "stream_errors_by_kind": dict(watched.errors),
        "outcomes_expected": len(acked_at),
        "outcomes_delivered": len(delivered),
        "outcomes_repeated": watched.repeated(),
        "delivered_pct": round(100 * len(delivered) / max(len(acked_at), 1), 2),
        "p50_decision_to_page_ms": round(percentile(to_page, 50), 1),
        "p99_decision_to_page_ms": round(percentile(to_page, 99), 1),
        "p50_decision_to_stream_ms": round(percentile(to_stream, 50), 1),
        "p99_decision_to_stream_ms": round(percentile(to_stream, 99), 1),
        "p50_stream_to_page_ms": round(percentile(stream_to_page, 50), 1),
        "p99_stream_to_page_ms": round(percentile(stream_to_page, 99), 1),
        "p50_202_to_page_ms": round(percentile(ack_to_page, 50), 1),
        "p99_202_to_page_ms": round(percentile(ack_to_page, 99), 1),
        "web_cpu_ms_per_delivered_event": round(1000 * cpu_spent / max(len(delivered), 1), 2),
    }


def targets(quiet: float, audience: dict, streams: int) -> list[tuple[str, str, bool]]:
    """``quiet``: the mean acknowledged/s of the quiet runs before and after the audience."""
    ratio = audience["acknowledged_per_s"] / quiet
    redis_most = audience["redis_connections_per_web_process_max"]
    return [
        (
            f"streams held: {audience['streams_held']}",
            f"= {streams}",
            audience["streams_held"] == streams,
        ),
        (
            f"streams ended by the server: {audience['streams_ended_by_server']}",
            "= 0",
            audience["streams_ended_by_server"] == 0,
        ),
        (
            f"outcomes delivered: {audience['delivered_pct']} %",
            "= 100 %",
            audience["delivered_pct"] == 100,
        ),
        (
            f"p99 decision to page: {audience['p99_decision_to_page_ms']} ms",
            "<= 1000 ms",
            audience["p99_decision_to_page_ms"] <= 1000,
        ),
        (f"acknowledged/s vs quiet: {ratio:.2f}x", ">= 0.8x", ratio >= 0.8),
        (  # the fan-out holds two: a sampler that saw fewer measured nothing
            f"Redis connections per web process: {redis_most}",
            "2 to 10",
            2 <= redis_most <= 10,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--students", type=int, default=10_000, help="open pages, one each")
    parser.add_argument("--clients", type=int, default=4, help="client processes holding pages")
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--profile", action="store_true", help="py-spy the web; print the top")
    parser.add_argument(
        "--no-through-web",
        dest="through_web",
        action="store_false",
        help="skip the run whose pages read their outcomes through the students' web",
    )
    args = parser.parse_args()
    raise_open_files_limit()
    scratch = Path(tempfile.mkdtemp(prefix="audience-"))
    postgres = PostgresServer(durable=True).start()
    started = datetime.now().isoformat(timespec="seconds")
    try:
        print(f"audience: {args.students} students, 1-6 enrolls each", flush=True)
        quiet = run("quiet", args, postgres, scratch)
        audience = run("audience", args, postgres, scratch)
        web = run("web_audience", args, postgres, scratch) if args.through_web else {}
        quiet_after = run("quiet_after", args, postgres, scratch)
    finally:
        postgres.stop()
    quiet_mean = (quiet["acknowledged_per_s"] + quiet_after["acknowledged_per_s"]) / 2
    verdicts = targets(quiet_mean, audience, args.students)
    if web:
        verdicts += [
            (f"through the web: {f}", t, m) for f, t, m in targets(quiet_mean, web, args.students)
        ]
    document = {
        "run": started,
        "args": vars(args),
        "quiet": quiet,
        "audience": audience,
        "web_audience": web,
        "quiet_after": quiet_after,
        "quiet_acknowledged_per_s_mean": round(quiet_mean, 1),
        "targets": [{"figure": f, "target": t, "met": m} for f, t, m in verdicts],
    }
    (DOCS / "audience.json").write_text(json.dumps(document, indent=2) + "\n")
    print(f"\n{'figure':44}{'quiet':>14}{'audience':>14}{'web':>14}{'quiet after':>14}")
    for key in {**audience, **web}:
        if isinstance(audience.get(key, web.get(key)), dict):
            print(f"{key:44}{audience.get(key, '')!s:>14}  {web.get(key, '')!s}")
            continue
        row = "".join(f"{run.get(key, ''):>14}" for run in (quiet, audience, web, quiet_after))
        print(f"{key:44}{row}")
    print()
    for figure, target, met in verdicts:
        print(f"{figure:72} target {target:12} {'met' if met else 'MISSED'}")
    print(f"\nwrote {DOCS / 'audience.json'}")


if __name__ == "__main__":
    sys.exit(main())
