"""The opening-minute rush, measured: ``make bench`` (or ``python bench/rush.py --scale 0.1``).

On a real PostgreSQL and Redis this seeds a program of 3,000 students with complete profiles,
400 sections (capacity 10-30) over 8 timeslots, then at t=0 every student sends 6 enroll
requests (18,000), 5 % of them retried with the same Idempotency-Key, over 200 connections.
The same load then runs against (a) the bare pipeline (same web server model, broker, queues and
worker topology; nothing persisted, a no-op task) and (b) an ESP-style synchronous baseline (the
same checks inside the HTTP request under a row lock). It prints the figures and ratios, and
writes ``bench/results/rush.json`` and ``bench/results/rush.png``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import psutil
import redis
from devstack.pipeline import PipelineStack, queued_count
from devstack.postgres_server import PostgresServer
from devstack.redis_server import RedisServer
from devstack.tokens import issue_token
from registration_service.adapters.db import make_session_factory
from registration_service.adapters.models import CompleteProfileRow
from registration_service.events import OUTCOME_DECIDED, OUTCOMES_STREAM
from registration_service.migrate import upgrade
from registration_service.use_cases import catalog
from sqlalchemy import text
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
RETRIES = 3
# Read back from the server into rush.json: the figures are for durable commits.
DURABILITY_SETTINGS = ("fsync", "synchronous_commit", "full_page_writes", "wal_sync_method")
T0 = "2026-12-05T09:00:00+00:00"


@dataclass(frozen=True)
class Job:
    student: int
    section: int
    key: str


@dataclass
class Sample:
    job: Job
    sent: float
    acked: float = float("nan")
    status: int = 0
    request_id: str | None = None
    transport_errors: list[str] = field(default_factory=list)


@dataclass
class Phase:
    name: str
    samples: list[Sample] = field(default_factory=list)
    outcomes: dict[str, float] = field(default_factory=dict)
    t0: float = 0.0
    checks: dict[str, int] = field(default_factory=dict)
    cpu_ms: dict[str, float] = field(default_factory=dict)


# --- the catalog and the load -----------------------------------------------------------------


def seed(url: str, students: int, sections: int, rng: random.Random) -> tuple[int, list[int]]:
    from datetime import datetime, timedelta

    _engine, sessions = make_session_factory(url)
    with sessions() as session, session.begin():
        program = catalog.create_program(session, catalog.NewProgram("Rush", 7, 12)).id
        start = datetime.fromisoformat(T0)
        slots = [
            catalog.add_timeslot(
                session, program, start + timedelta(hours=h), start + timedelta(hours=h, minutes=50)
            ).id
            for h in range(8)
        ]
        section_ids = []
        for index in range(sections):
            new = catalog.NewSection(rng.randint(10, 30), (rng.choice(slots),))
            created = catalog.add_class(session, program, f"Class {index}", 7, 12, [new])
            section_ids.append(created.sections[0].id)
        session.add_all(
            CompleteProfileRow(
                program_id=program, student_id=s, grade=rng.randint(7, 12), event_id=f"seed-{s}"
            )
            for s in range(1, students + 1)
        )
    _engine.dispose()
    return program, section_ids


def plan(
    section_ids: list[int], students: int, per_student: int, retry: float, rng: random.Random
) -> list[Job]:
    jobs = [
        Job(student, section, f"s{student}-{section}")
        for student in range(1, students + 1)
        for section in rng.sample(section_ids, per_student)
    ]
    rng.shuffle(jobs)
    for job in rng.sample(jobs, int(len(jobs) * retry)):  # a retry lands after its original
        jobs.insert(rng.randint(jobs.index(job) + 1, len(jobs)), job)
    return jobs


async def fire(
    base_url: str, program: int, jobs: list[Job], tokens: dict[int, str], connections: int
) -> list[Sample]:
    """Send every job over ``connections`` keep-alive connections, as fast as answers come.

    aiohttp rather than httpx: its C HTTP parser costs the load generator a fraction of the CPU
    per request, and on two cores every millisecond the generator burns is taken from the
    system it measures (the CPU figures show what it still costs).
    """
    queue: asyncio.Queue[Job] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)
    samples: list[Sample] = []
    bar = tqdm(total=len(jobs), desc="  requests", unit="req", leave=False, mininterval=0.5)
    url = f"{base_url}/v1/programs/{program}/registration-requests"
    connector = aiohttp.TCPConnector(limit=connections)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as client:

        async def connection() -> None:
            while not queue.empty():
                job = queue.get_nowait()
                sample = Sample(job, time.monotonic())
                body = {"student_id": job.student, "action": "enroll", "section_id": job.section}
                headers = {
                    "Authorization": f"Bearer {tokens[job.student]}",
                    "Idempotency-Key": job.key,
                }
                # A browser whose connection failed tries again with the same key, as the
                # contract invites; every failure is counted.
                while sample.status <= 0 and len(sample.transport_errors) < RETRIES:
                    try:
                        async with client.post(url, json=body, headers=headers) as response:
                            sample.status = response.status
                            answer = await response.json()
                        if sample.status < 300:
                            sample.request_id = answer.get("id")
                    except (aiohttp.ClientError, TimeoutError) as exc:
                        sample.status = -1
                        sample.transport_errors.append(type(exc).__name__)
                sample.acked = time.monotonic()
                samples.append(sample)
                bar.update()

        await asyncio.gather(*(connection() for _ in range(connections)))
    bar.close()
    return samples


class OutcomeWatcher(threading.Thread):
    """Records when each request's outcome appears on its Redis Stream."""

    def __init__(self, client: redis.Redis, stream: str) -> None:
        super().__init__(daemon=True)
        self.client, self.stream = client, stream
        self.seen: dict[str, float] = {}
        self.running = True

    def run(self) -> None:
        last = "0"
        while self.running:
            found = self.client.xread({self.stream: last}, count=1000, block=200)
            for _, entries in found or []:
                for entry_id, fields in entries:
                    last = entry_id
                    request_id = self._request_id(fields)
                    if request_id:
                        self.seen.setdefault(request_id, time.monotonic())

    @staticmethod
    def _request_id(fields: dict) -> str | None:
        if b"id" in fields:
            return fields[b"id"].decode()
        envelope = json.loads(fields[b"envelope"])
        if envelope["event_type"] != OUTCOME_DECIDED:
            return None
        return envelope["payload"]["id"]


# --- the three runs ---------------------------------------------------------------------------


def run_phase(
    name: str,
    stack: PipelineStack,
    program: int,
    jobs: list[Job],
    connections: int,
    stream: str | None,
    timeout: float,
) -> Phase:
    phase = Phase(name)
    watcher = OutcomeWatcher(stack.redis_client(), stream) if stream else None
    if watcher:
        watcher.start()
    tokens = {job.student: issue_token(job.student, "student", 7200) for job in jobs}
    phase.t0 = time.monotonic()
    phase.samples = asyncio.run(fire(stack.base_url, program, jobs, tokens, connections))
    # One outcome per request the service acknowledged (replays share their original's id).
    expected = len({s.request_id for s in phase.samples if s.request_id})
    if watcher:
        with tqdm(total=expected, desc="  outcomes", unit="dec", leave=False) as bar:
            deadline = time.monotonic() + timeout
            while len(watcher.seen) < expected and time.monotonic() < deadline:
                bar.update(len(watcher.seen) - bar.n)
                time.sleep(0.2)
        watcher.running = False
        watcher.join()
        phase.outcomes = dict(watcher.seen)
    else:  # synchronous: the answer is the outcome
        phase.outcomes = {f"{i}": s.acked for i, s in enumerate(phase.samples) if s.status == 200}
    return phase


def check_database(url: str, phase: Phase) -> None:
    engine, _ = make_session_factory(url)
    queries = {
        "overbooked_sections": """SELECT count(*) FROM sections s
            WHERE s.enrolled_count > s.capacity OR (SELECT count(*) FROM student_registrations r
                WHERE r.section_id = s.id AND r.holds_seat) > s.capacity""",
        "double_seats": """SELECT count(*) FROM (SELECT student_id, section_id
            FROM student_registrations WHERE holds_seat GROUP BY 1, 2 HAVING count(*) > 1) d""",
        "timeslot_clashes": """SELECT count(*) FROM (SELECT student_id, timeslot_id
            FROM timeslot_occupancies WHERE released_at IS NULL
            GROUP BY 1, 2 HAVING count(*) > 1) d""",
    }
    with engine.connect() as connection:
        for check, sql in queries.items():
            phase.checks[check] = connection.execute(text(sql)).scalar_one()
        if phase.name == "pipeline":
            phase.checks["requests_stored"] = connection.execute(
                text("SELECT count(*) FROM registration_requests")
            ).scalar_one()
            phase.checks["still_queued"] = queued_count(engine)
            # A batch's requests share one decided_at: how many transactions decided the rush.
            phase.checks["decision_batches"] = connection.execute(
                text(
                    "SELECT count(*) FROM (SELECT DISTINCT decision_partition, decided_at"
                    " FROM registration_requests) batches"
                )
            ).scalar_one()
    engine.dispose()


# --- figures ------------------------------------------------------------------------------------


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def figures(phase: Phase, unique_requests: int) -> dict:
    acked = [s for s in phase.samples if 200 <= s.status < 300]
    to_ack = [(s.acked - s.sent) * 1000 for s in acked]
    by_id: dict[str, float] = {}
    for s in acked:
        if s.request_id:
            by_id.setdefault(s.request_id, s.sent)
    if phase.name == "sync":
        to_outcome, last_outcome = to_ack, max((s.acked for s in acked), default=phase.t0)
        decided = len(acked)
    else:
        to_outcome = [
            (phase.outcomes[r] - t) * 1000 for r, t in by_id.items() if r in phase.outcomes
        ]
        last_outcome = max(phase.outcomes.values(), default=phase.t0)
        decided = len(phase.outcomes)
    last_ack = max((s.acked for s in acked), default=phase.t0)
    makespan = last_outcome - phase.t0
    retried_ids: dict[str, set[str]] = {}
    for s in acked:
        retried_ids.setdefault(s.job.key, set()).add(s.request_id or "")
    lost = len([r for r in by_id if r not in phase.outcomes]) if phase.name != "sync" else 0
    return {
        "requests_sent": len(phase.samples),
        "acknowledged_per_s": round(len(acked) / max(last_ack - phase.t0, 1e-9), 1),
        "decisions_per_s": round(decided / max(makespan, 1e-9), 1),
        "p50_ack_ms": round(pct(to_ack, 50), 1),
        "p99_ack_ms": round(pct(to_ack, 99), 1),
        "p50_outcome_ms": round(pct(to_outcome, 50), 1),
        "p99_outcome_ms": round(pct(to_outcome, 99), 1),
        "makespan_s": round(makespan, 2),
        "decided": decided,
        "lost_requests": lost,
        "keys_with_two_ids": sum(1 for ids in retried_ids.values() if len(ids) > 1)
        if phase.name == "pipeline"
        else 0,
        "http_5xx": sum(1 for s in phase.samples if s.status >= 500),
        "transport_errors": sum(len(s.transport_errors) for s in phase.samples),
        "unanswered": sum(1 for s in phase.samples if s.status <= 0),
        **phase.checks,
        "unique_requests": unique_requests,
        **{f"cpu_ms_per_request: {part}": ms for part, ms in phase.cpu_ms.items()},
        "cpu_ms_per_request: total": round(sum(phase.cpu_ms.values()), 2),
    }


def timeline(phase: Phase) -> dict[str, list[float]]:
    """Per-second acknowledgements, decisions and p99 time to acknowledge."""
    ack_buckets: dict[int, list[float]] = {}
    for s in phase.samples:
        ack_buckets.setdefault(int(s.acked - phase.t0), []).append((s.acked - s.sent) * 1000)
    decided: dict[int, int] = {}
    for moment in phase.outcomes.values():
        decided[int(moment - phase.t0)] = decided.get(int(moment - phase.t0), 0) + 1
    seconds = range(max([*ack_buckets, *decided, 0]) + 1)
    return {
        "second": list(seconds),
        "acks": [len(ack_buckets.get(t, [])) for t in seconds],
        "decisions": [decided.get(t, 0) for t in seconds],
        "p99_ack_ms": [pct(ack_buckets.get(t, []), 99) for t in seconds],
    }


def write_png(timelines: dict[str, dict[str, list[float]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 7), sharex=True)
    for name, series in timelines.items():
        top.plot(series["second"], series["decisions"], label=f"{name}: decisions/s")
        top.plot(series["second"], series["acks"], linestyle="--", label=f"{name}: acks/s")
        bottom.plot(series["second"], series["p99_ack_ms"], label=f"{name}: p99 time to answer")
    top.set_ylabel("per second")
    top.legend(fontsize=8)
    bottom.set_ylabel("ms")
    bottom.set_yscale("log")
    bottom.set_xlabel("seconds since t=0")
    bottom.legend(fontsize=8)
    fig.suptitle("Registration rush: throughput and latency over time")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


# --- main ---------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of the full load")
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2, help="decision worker processes")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--phases", default="pipeline,bare,sync")
    parser.add_argument(
        "--scale-out",
        default="1,2,4",
        help="decision worker counts for the scale-out table ('' to skip)",
    )
    parser.add_argument("--scale-out-scale", type=float, default=0.3)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="record py-spy flame graphs of the web and one decision worker (pipeline phase)",
    )
    args = parser.parse_args()
    students = max(10, int(3000 * args.scale))
    sections = max(20, int(400 * args.scale))
    RESULTS.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="rush-"))
    print(
        f"rush: {students} students x 6 requests, {sections} sections, "
        f"{args.connections} connections, {args.workers} decision workers",
        flush=True,
    )
    postgres = PostgresServer(durable=True).start()  # as production commits: fsync and all
    server_settings = postgres.settings(*DURABILITY_SETTINGS)
    print(f"postgres: {server_settings}", flush=True)
    results, timelines, errors = {}, {}, {}
    scale_out: dict[str, dict] = {}
    try:
        for name in args.phases.split(","):
            results[name], timelines[name], errors[name] = run_one(
                name, args, postgres, scratch, students, sections
            )
        for workers in [int(w) for w in args.scale_out.split(",") if w]:
            small = argparse.Namespace(**{**vars(args), "workers": workers, "profile": False})
            print(f"scale-out: {workers} decision workers at scale {args.scale_out_scale}")
            scale_out[str(workers)], _, _ = run_one(
                "pipeline",
                small,
                postgres,
                scratch,
                max(10, int(3000 * args.scale_out_scale)),
                max(20, int(400 * args.scale_out_scale)),
                label=f"scaleout{workers}",
            )
    finally:
        postgres.stop()
    report(results, timelines, errors, args, server_settings, scale_out)


def run_one(
    name: str,
    args: argparse.Namespace,
    postgres: PostgresServer,
    scratch: Path,
    students: int,
    sections: int,
    label: str | None = None,
) -> tuple[dict, dict, dict]:
    label = label or name
    rng = random.Random(args.seed)
    url = postgres.create_database(f"rush_{label}")
    upgrade(url)
    program, section_ids = seed(url, students, sections, rng)
    jobs = plan(section_ids, students, 6, 0.05, rng)
    unique = len({job.key for job in jobs})
    redis_server = RedisServer(scratch / f"redis-{label}").start()
    stack = make_stack(name, url, redis_server, scratch, args, label).start()
    print(f"{name}: {len(jobs)} requests ({unique} unique) ...", flush=True)
    try:
        stream = {"pipeline": OUTCOMES_STREAM, "bare": "bench.bare.outcomes"}.get(name)
        spies = start_profilers(stack) if args.profile and name == "pipeline" else []
        meter = CpuMeter(stack, postgres, redis_server.process.pid)
        phase = run_phase(name, stack, program, jobs, args.connections, stream, 900)
        phase.cpu_ms = meter.per_request_ms(len(jobs))
        for spy in spies:
            spy.send_signal(signal.SIGINT)  # py-spy writes its SVG on interrupt
            spy.wait()
        if name != "bare":
            check_database(url, phase)
    finally:
        stack.stop()
        redis_server.stop()
    kinds = Counter(kind for sample in phase.samples for kind in sample.transport_errors)
    return figures(phase, unique), timeline(phase), dict(kinds)


def start_profilers(stack: PipelineStack) -> list[subprocess.Popen[bytes]]:
    """py-spy on the web (all its workers) and on decision worker 0, as flame graph SVGs."""
    spy = str(Path(sys.executable).with_name("py-spy"))
    targets = {
        "web": (stack.others[0].pid, ["--subprocesses"]),
        "worker": (stack.workers[0].pid, []),
    }
    processes = []
    for name, (pid, extra) in targets.items():
        output = str(RESULTS / f"profile-{name}.svg")
        command = [spy, "record", "--pid", str(pid), *extra, "--rate", "200", "--output", output]
        processes.append(
            subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )
    return processes


class CpuMeter:
    """CPU seconds spent by each part of the system during a phase (user + system time of the
    process trees), to say per request where the machine's two cores went."""

    def __init__(self, stack: PipelineStack, postgres: PostgresServer, redis_pid: int) -> None:
        roots = {"web": [stack.others[0].pid], "workers": [w.pid for w in stack.workers.values()]}
        roots["relay"] = [p.pid for p in stack.others[1:]]
        roots["redis"] = [redis_pid]
        roots["postgres"] = [
            proc.pid
            for proc in psutil.process_iter(["cmdline"])
            if str(postgres.data_dir) in " ".join(proc.info["cmdline"] or [])
        ]
        self.roots = roots
        self.start = self._read()

    def _read(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for part, pids in self.roots.items():
            total = 0.0
            for pid in pids:
                with contextlib.suppress(psutil.NoSuchProcess):
                    root = psutil.Process(pid)
                    for proc in [root, *root.children(recursive=True)]:
                        with contextlib.suppress(psutil.NoSuchProcess):
                            times = proc.cpu_times()
                            total += times.user + times.system
            totals[part] = total
        own = psutil.Process().cpu_times()
        totals["load generator"] = own.user + own.system
        return totals

    def per_request_ms(self, requests: int) -> dict[str, float]:
        end = self._read()
        return {
            part: round(1000 * (end[part] - self.start.get(part, 0.0)) / max(requests, 1), 2)
            for part in end
        }


def make_stack(
    name: str,
    url: str,
    redis_server: RedisServer,
    scratch: Path,
    args: argparse.Namespace,
    label: str,
) -> PipelineStack:
    logs = scratch / f"logs-{label}"
    logs.mkdir()
    common = {
        "partitions": args.partitions,
        "workers": args.workers,
        "web_workers": args.web_workers,
        "extra_env": {
            "PYTHONPATH": str(ROOT / "bench"),
            "REQUEUE_AFTER_SECONDS": "30",
            "DB_POOL_SIZE": "20",
        },
    }
    if name == "bare":
        return PipelineStack(
            url,
            redis_server,
            logs,
            web_app="bare_pipeline:create_app()",
            worker_module=["celery", "-A", "bare_pipeline", "worker"],
            relay=False,
            **common,
        )
    if name == "sync":
        return PipelineStack(
            url,
            redis_server,
            logs,
            web_app="sync_baseline:create_app()",
            relay=False,
            **{**common, "workers": 0},
        )
    return PipelineStack(url, redis_server, logs, **common)


# (figure, the baseline it is divided by, the bound, higher is better)
TARGETS = [
    ("decisions_per_s", "bare", 0.8, True),
    ("decisions_per_s", "sync", 2.0, True),
    ("p99_ack_ms", "bare", 2.0, False),
    ("cpu_ms_per_request: total", "bare", 2.0, False),
]


def targets(results: dict[str, dict]) -> dict[str, dict]:
    """The pipeline's figures as ratios to the baselines measured in the same run."""
    ours = results.get("pipeline")
    found = {}
    for figure, baseline, bound, higher_is_better in TARGETS:
        if not ours or baseline not in results or not results[baseline][figure]:
            continue
        ratio = round(ours[figure] / results[baseline][figure], 2)
        met = ratio >= bound if higher_is_better else ratio <= bound
        sign = ">=" if higher_is_better else "<="
        target = f"{sign} {bound}x"
        found[f"{figure} vs {baseline}"] = {"ratio": ratio, "target": target, "met": met}
    return found


def report(
    results: dict[str, dict],
    timelines: dict,
    errors: dict,
    args: argparse.Namespace,
    server_settings: dict[str, str],
    scale_out: dict[str, dict],
) -> None:
    document = {
        "args": vars(args),
        "postgres": server_settings,
        "results": results,
        "targets": targets(results),
        "scale_out": scale_out,
        "transport_errors": errors,
    }
    (RESULTS / "rush.json").write_text(json.dumps(document | {"timelines": timelines}, indent=2))
    write_png(timelines, RESULTS / "rush.png")
    keys = list(next(iter(results.values())))
    print(f"\n{'figure':36}" + "".join(f"{name:>14}" for name in results))
    for key in keys:
        print(f"{key:36}" + "".join(f"{results[n].get(key, ''):>14}" for n in results))
    print()
    for name, target in document["targets"].items():
        verdict = "met" if target["met"] else "MISSED"
        print(f"{name:44} {target['ratio']:>6.2f}x  (target {target['target']})  {verdict}")
    if scale_out:
        print(f"\nscale-out at scale {args.scale_out_scale}, pipeline only:")
        print(f"{'decision workers':>18}{'decisions/s':>14}{'p99 to 202 ms':>16}{'batches':>10}")
        for workers, figures_ in scale_out.items():
            print(
                f"{workers:>18}{figures_['decisions_per_s']:>14}"
                f"{figures_['p99_ack_ms']:>16}{figures_.get('decision_batches', ''):>10}"
            )
    print(f"\nwrote {RESULTS / 'rush.json'} and {RESULTS / 'rush.png'}")


if __name__ == "__main__":
    sys.exit(main())
