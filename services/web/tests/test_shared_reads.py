"""SharedReads: one read per key and second for every page, what was read last shown while it
is read again, and nothing older than ``keep_stale`` shown at all."""

from __future__ import annotations

import threading
import time

import httpx
from web_service.backend import SharedReads


class Source:
    """Answers in turn, counting the reads; ``gate`` holds each read until it is set."""

    def __init__(self, *answers: httpx.Response) -> None:
        self.answers = list(answers)
        self.reads = 0
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self) -> httpx.Response:
        self.gate.wait(5)
        self.reads += 1
        return self.answers[min(self.reads, len(self.answers)) - 1]


def ok(value: object) -> httpx.Response:
    return httpx.Response(200, json=value)


def until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.01)


def test_pages_within_the_ttl_share_one_read():
    shared, source = SharedReads(ttl=60), Source(ok({"n": 1}))
    assert [shared.get("k", source)[0] for _ in range(50)] == [{"n": 1}] * 50
    assert source.reads == 1


def test_a_page_asking_while_nothing_is_kept_waits_for_the_one_read():
    shared, source = SharedReads(ttl=60), Source(ok({"n": 1}))
    source.gate.clear()
    got: list[object] = []
    callers = [
        threading.Thread(target=lambda: got.append(shared.get("k", source)[0])) for _ in range(8)
    ]
    for caller in callers:
        caller.start()
    time.sleep(0.1)
    source.gate.set()
    for caller in callers:
        caller.join(5)
    assert got == [{"n": 1}] * 8
    assert source.reads == 1


def test_past_the_ttl_a_page_gets_the_last_read_at_once_while_one_reader_reads_again():
    shared, source = SharedReads(ttl=0.05), Source(ok({"n": 1}), ok({"n": 2}))
    assert shared.get("k", source)[0] == {"n": 1}
    time.sleep(0.1)
    source.gate.clear()  # the read again takes its time
    started = time.monotonic()
    assert [shared.get("k", source)[0] for _ in range(20)] == [{"n": 1}] * 20
    assert time.monotonic() - started < 1.0  # nobody waited for it
    source.gate.set()
    until(lambda: shared.get("k", source)[0] == {"n": 2})
    assert source.reads == 2  # twenty pages past the ttl: one read again


def test_a_failed_read_again_keeps_the_last_read_until_keep_stale_then_the_page_reads():
    down = httpx.Response(503, json={"error": "unavailable"})
    shared, source = SharedReads(ttl=0.05, keep_stale=0.5), Source(ok({"n": 1}), down)
    assert shared.get("k", source)[0] == {"n": 1}
    time.sleep(0.1)
    assert shared.get("k", source) == ({"n": 1}, None)  # kept; the read again failed
    until(lambda: source.reads == 2)
    time.sleep(0.5)  # past keep_stale: not shown any more
    value, failed = shared.get("k", source)
    assert value is None and failed is not None and failed.status_code == 503


def test_nothing_but_a_200_is_kept_and_a_ttl_of_0_reads_every_time():
    missing = httpx.Response(404, json={"error": "not_found"})
    shared, source = SharedReads(ttl=60), Source(missing, ok({"n": 1}))
    assert shared.get("k", source)[1] is missing
    assert shared.get("k", source)[0] == {"n": 1}
    unshared, counted = SharedReads(ttl=0), Source(ok({"n": 1}))
    for _ in range(3):
        unshared.get("k", counted)
    assert counted.reads == 3
