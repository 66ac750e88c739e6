"""The outcome fan-out alone: ``python bench/fanout.py [--pages 10000] [--events 35000]``.

The registration web (gevent, two workers, as deployed) with ``--pages`` outcome streams held
open from four client processes, and nothing else running: first 30 s with no event (what idle
pages cost: their heartbeats), then ``--events`` outcomes published straight to Redis at
``--rate`` a second, as the relay writes them (the shared stream and the student's), each to a
random page's student. Prints the web's CPU for the idle pages and per delivered event, the
clients' and Redis's, and how many events arrived. ``make bench-audience`` measures the same
path inside the whole rush; this isolates the fan-out's own cost, for comparing its versions.
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import redis
from devstack.audience import Audience, children, cpu_seconds, raise_open_files_limit
from devstack.pipeline import PipelineStack
from devstack.redis_server import RedisServer
from devstack.tokens import issue_token
from registration_service.events import OUTCOMES_STREAM, STUDENT_STREAM_PREFIX, student_stream
from registration_service.migrate import upgrade
from servicekit.events import Event, StreamPublisher


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pages", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=35_000)
    parser.add_argument("--rate", type=int, default=500, help="events published per second")
    args = parser.parse_args()
    raise_open_files_limit()
    scratch = Path(tempfile.mkdtemp(prefix="fanout-"))
    url = f"sqlite:///{scratch}/registration.sqlite3"
    upgrade(url)
    redis_server = RedisServer(scratch / "redis").start()
    (scratch / "logs").mkdir()
    stack = PipelineStack(url, redis_server, scratch / "logs", workers=0, relay=False).start()
    tokens = {s: issue_token(s, "student", 7200) for s in range(1, args.pages + 1)}
    audience = Audience(stack.base_url, tokens, processes=4)
    try:
        audience.open(timeout=300)
        webs = children(stack.others[0].pid)

        def cpu() -> tuple[float, float, float]:
            return (
                cpu_seconds(webs),
                cpu_seconds(audience.pids()),
                cpu_seconds([redis_server.process.pid]),
            )

        print(f"{audience.opened} pages open", flush=True)
        time.sleep(3)
        before = cpu()
        time.sleep(30)
        idle = [b - a for a, b in zip(before, cpu(), strict=True)]
        print(f"idle 30 s: web {idle[0]:.2f} s, clients {idle[1]:.2f} s, Redis {idle[2]:.2f} s")
        publisher = StreamPublisher(
            redis.Redis.from_url(redis_server.url), expiring_prefixes=(STUDENT_STREAM_PREFIX,)
        )
        rng = random.Random(1)
        before, began, sent = cpu(), time.time(), 0
        while sent < args.events:
            batch = []
            for _ in range(50):
                student = rng.randint(1, args.pages)
                payload = {
                    "id": uuid.uuid4().hex,
                    "student_id": student,
                    "status": "accepted",
                    "section_id": 5,
                    "decided_at": datetime.now(UTC).isoformat(),
                    "message": "Enrolled in section 5.",
                }
                envelope = Event("registration.request.decided.v1", "registration", payload)
                body = envelope.to_json()
                batch += [(OUTCOMES_STREAM, body), (student_stream(student), body)]
            publisher.publish_many(batch)
            sent += 50
            ahead = began + sent / args.rate - time.time()
            if ahead > 0:
                time.sleep(ahead)
        audience.await_deliveries(args.events, timeout=120)
        spent = [b - a for a, b in zip(before, cpu(), strict=True)]
        print(
            f"{args.events} events in {time.time() - began:.1f} s, {audience.delivered} arrived: "
            f"web {spent[0]:.2f} s ({1000 * spent[0] / args.events:.3f} ms an event), "
            f"clients {spent[1]:.2f} s ({1000 * spent[1] / args.events:.3f} ms), "
            f"Redis {spent[2]:.2f} s"
        )
    finally:
        audience.close()
        stack.stop()
        redis_server.stop()


if __name__ == "__main__":
    main()
