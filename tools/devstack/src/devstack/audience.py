"""An opening's audience, as browsers would be: every student holds their outcome stream open
(from several client processes: one process has too few file descriptors and one core) while
the students send their requests; what reached the open pages, and when.

Used by ``bench/audience.py`` (``make bench-audience``) and the audience test. A page is an
``EventSource``: it reads ``id:`` and ``data:`` lines, and when the server ends the stream it
reconnects with ``Last-Event-ID`` (counted: the server should never end one). With ``churn``, a
share of the pages also drop their connection after their first outcome and come back with
``Last-Event-ID``, as a phone changing networks does: nothing may be lost or repeated.

A page reads the registration service's stream with the student's token, or, with ``cookie``
(the web's session cookie's name), the web's ``/live/outcomes`` with the student's session id.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import random
import re
import resource
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp

RETRY_SECONDS = 2.0  # the streams' "retry: 2000"


@dataclass
class Delivery:
    student: int
    request_id: str
    stream_id: str
    at: float  # wall clock, comparable with the database's decided_at


@dataclass
class Watched:
    """What the pages saw, added up over the client processes."""

    opened: int = 0
    ended_by_server: int = 0
    reconnects: int = 0  # the churning pages' own reconnections
    errors: Counter[str] = field(default_factory=Counter)
    deliveries: list[Delivery] = field(default_factory=list)

    def first_seen(self) -> dict[str, float]:
        """Each request id and when its outcome first reached a page."""
        seen: dict[str, float] = {}
        for delivery in self.deliveries:
            seen[delivery.request_id] = min(delivery.at, seen.get(delivery.request_id, delivery.at))
        return seen

    def repeated(self) -> int:
        """Outcomes a page got more than once (by stream id, per student)."""
        counts = Counter((d.student, d.stream_id) for d in self.deliveries)
        return sum(n - 1 for n in counts.values() if n > 1)


class Audience:
    """``students`` holding their outcome streams open from ``processes`` client processes."""

    def __init__(
        self,
        base_url: str,
        tokens: dict[int, str],
        *,
        processes: int = 4,
        churn: float = 0.0,
        seed: int = 19,
        cookie: str | None = None,
    ) -> None:
        """``tokens``: each student's access token, or with ``cookie`` their web session's id."""
        self.base_url = base_url
        self.tokens = tokens
        context = multiprocessing.get_context("spawn")
        self._opened = context.Value("i", 0)
        self._delivered = context.Value("i", 0)
        self._stop = context.Event()
        self._results: Any = context.Queue()
        students = sorted(tokens)
        self._processes = [
            context.Process(
                target=_client,
                args=(
                    base_url,
                    {s: tokens[s] for s in students[i::processes]},
                    churn,
                    seed + i,
                    cookie,
                    self._opened,
                    self._delivered,
                    self._stop,
                    self._results,
                ),
                daemon=True,
            )
            for i in range(processes)
        ]

    def open(self, timeout: float = 120, progress: Callable[[int], None] | None = None) -> int:
        """Start the clients; returns once every stream is open (or ``timeout`` passed)."""
        for process in self._processes:
            process.start()
        deadline = time.monotonic() + timeout
        while self.opened < len(self.tokens) and time.monotonic() < deadline:
            if progress:
                progress(self.opened)
            time.sleep(0.2)
        return self.opened

    def pids(self) -> list[int]:
        """The client processes' pids (to count their CPU)."""
        return [p.pid for p in self._processes if p.pid is not None]

    @property
    def opened(self) -> int:
        return int(self._opened.value)

    @property
    def delivered(self) -> int:
        """Outcome events the pages received so far (repeats included)."""
        return int(self._delivered.value)

    def await_deliveries(
        self, count: int, timeout: float, progress: Callable[[int], None] | None = None
    ) -> int:
        """Until the pages received ``count`` events (or ``timeout`` passed); then a moment
        more, so a repeat that would follow is counted too."""
        deadline = time.monotonic() + timeout
        while self.delivered < count and time.monotonic() < deadline:
            if progress:
                progress(self.delivered)
            time.sleep(0.1)
        time.sleep(1.0)
        return self.delivered

    def close(self) -> Watched:
        """Stop the clients and add up what their pages saw."""
        self._stop.set()
        watched = Watched()
        for _ in self._processes:
            part = self._results.get(timeout=120)
            watched.opened += part["opened"]
            watched.ended_by_server += part["ended_by_server"]
            watched.reconnects += part["reconnects"]
            watched.errors.update(part["errors"])
            watched.deliveries += [Delivery(*d) for d in part["deliveries"]]
        for process in self._processes:
            process.join(timeout=30)
        return watched


def _client(
    base_url: str,
    tokens: dict[int, str],
    churn: float,
    seed: int,
    cookie: str | None,
    opened: Any,
    delivered: Any,
    stop: Any,
    results: Any,
) -> None:
    raise_open_files_limit()
    counters = (opened, delivered)
    results.put(asyncio.run(_hold(base_url, tokens, churn, seed, cookie, counters, stop)))


class _Page(asyncio.Protocol):
    """One page's connection, read the way a browser's EventSource reads it, at a fraction of
    a general HTTP client's CPU (the pages share the machine with the server they measure):
    the status line, the headers, then the chunked body split into events."""

    def __init__(self, on_event: Callable[[str | None, str], bool]) -> None:
        self.on_event = on_event  # True: leave (close the connection on purpose)
        self.left = False
        self.status: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._headers_done = False
        self._chunked = False
        self._need: int | None = None  # the current chunk's size and its CRLF, once known
        self._text = ""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if not self._headers_done:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self._buffer[:end]).decode("latin-1").lower()
            del self._buffer[: end + 4]
            self._headers_done = True
            self._chunked = "transfer-encoding: chunked" in head
            if not self.status.done():
                self.status.set_result(int(head.split(" ", 2)[1]))
        if not self._chunked:
            self._body(bytes(self._buffer))
            self._buffer.clear()
            return
        while True:
            if self._need is None:
                line_end = self._buffer.find(b"\r\n")
                if line_end < 0:
                    return
                size = int(self._buffer[:line_end], 16)
                del self._buffer[: line_end + 2]
                if size == 0:  # the server ended the stream
                    if self.transport is not None:
                        self.transport.close()
                    return
                self._need = size + 2
            if len(self._buffer) < self._need:
                return
            self._body(bytes(self._buffer[: self._need - 2]))
            del self._buffer[: self._need]
            self._need = None

    def _body(self, data: bytes) -> None:
        self._text += data.decode()
        while "\n\n" in self._text:
            block, self._text = self._text.split("\n\n", 1)
            event_id, payload = None, None
            for line in block.split("\n"):
                if line.startswith("id: "):
                    event_id = line[4:]
                elif line.startswith("data: "):
                    payload = line[6:]
            if payload is not None and self.on_event(event_id, payload) and not self.left:
                self.left = True
                if self.transport is not None:
                    self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.status.done():
            self.status.set_exception(exc or ConnectionError("closed before the status"))
        if not self.closed.done():
            self.closed.set_result(None)


async def _hold(
    base_url: str,
    tokens: dict[int, str],
    churn: float,
    seed: int,
    cookie: str | None,
    counters: tuple[Any, Any],
    stop: Any,
) -> dict[str, Any]:
    opened, delivered = counters
    churners = set(random.Random(seed).sample(sorted(tokens), int(len(tokens) * churn)))
    tally: dict[str, Any] = {
        "opened": 0,
        "ended_by_server": 0,
        "reconnects": 0,
        "errors": Counter(),
        "deliveries": [],
    }
    address = urlsplit(base_url)
    host, port = address.hostname or "127.0.0.1", address.port or 80
    loop = asyncio.get_running_loop()

    async def page(student: int) -> None:
        last_id: str | None = None
        first = True
        churn_left = student in churners

        def on_event(event_id: str | None, payload: str) -> bool:
            nonlocal last_id, churn_left
            data = json.loads(payload)
            tally["deliveries"].append((student, data.get("id", ""), event_id or "", time.time()))
            last_id = event_id
            if churn_left:  # drop the connection, come back with the id
                churn_left = False
                tally["reconnects"] += 1
                return True
            return False

        while True:
            connection: _Page | None = None
            try:
                _, connection = await loop.create_connection(lambda: _Page(on_event), host, port)
                if cookie:  # the web's page: its session, the web relays the stream
                    request = (
                        f"GET /live/outcomes HTTP/1.1\r\nHost: {host}:{port}\r\n"
                        f"Cookie: {cookie}={tokens[student]}\r\nAccept: text/event-stream\r\n"
                    )
                else:
                    request = (
                        f"GET /v1/students/{student}/outcomes HTTP/1.1\r\n"
                        f"Host: {host}:{port}\r\nAuthorization: Bearer {tokens[student]}\r\n"
                        "Accept: text/event-stream\r\n"
                    )
                if last_id:
                    request += f"Last-Event-ID: {last_id}\r\n"
                assert connection.transport is not None
                connection.transport.write((request + "\r\n").encode())
                status = await connection.status
                if status != 200:
                    tally["errors"][f"http {status}"] += 1
                    connection.left = True
                    connection.transport.close()
                    await asyncio.sleep(RETRY_SECONDS)
                    continue
                if first:
                    first = False
                    tally["opened"] += 1
                    with opened.get_lock():
                        opened.value += 1
                await connection.closed
                if not connection.left:
                    tally["ended_by_server"] += 1
                    await asyncio.sleep(RETRY_SECONDS)
            except OSError as exc:
                tally["errors"][type(exc).__name__] += 1
                await asyncio.sleep(RETRY_SECONDS)
            except asyncio.CancelledError:
                if connection is not None and connection.transport is not None:
                    connection.transport.close()
                raise

    pages = [asyncio.create_task(page(student)) for student in tokens]
    told = 0
    while not stop.is_set():
        await asyncio.sleep(0.1)
        now = len(tally["deliveries"])  # told to the parent in bulk, not per event
        with delivered.get_lock():
            delivered.value += now - told
        told = now
    for task in pages:
        task.cancel()
    await asyncio.gather(*pages, return_exceptions=True)
    tally["errors"] = dict(tally["errors"])
    return tally


@dataclass
class Ack:
    request_id: str | None
    status: int
    sent: float  # wall clock
    acked: float


async def _send(
    base_url: str,
    program: int,
    jobs: Sequence[tuple[int, int]],
    tokens: dict[int, str],
    connections: int,
) -> list[Ack]:
    queue = list(reversed(jobs))
    acks: list[Ack] = []
    url = f"{base_url}/v1/programs/{program}/registration-requests"
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=60)
    ) as client:

        async def connection() -> None:
            while queue:
                student, section = queue.pop()
                body = {"student_id": student, "action": "enroll", "section_id": section}
                headers = {
                    "Authorization": f"Bearer {tokens[student]}",
                    "Idempotency-Key": f"a{student}-{section}",
                }
                sent = time.time()
                try:
                    async with client.post(url, json=body, headers=headers) as response:
                        answer = await response.json()
                        status = response.status
                except (aiohttp.ClientError, TimeoutError):
                    answer, status = {}, -1
                acks.append(Ack(answer.get("id"), status, sent, time.time()))

        await asyncio.gather(*(connection() for _ in range(connections)))
    return acks


def send(
    base_url: str,
    program: int,
    jobs: Sequence[tuple[int, int]],
    tokens: dict[int, str],
    connections: int = 200,
) -> list[Ack]:
    """Send each (student, section) enroll over ``connections`` keep-alive connections."""
    return asyncio.run(_send(base_url, program, jobs, tokens, connections))


# --- what the processes hold ----------------------------------------------------------------


def raise_open_files_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def children(pid: int) -> list[int]:
    """The pids a process forked (a gunicorn master's workers)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(child) for child in path.read_text().split()] if path.exists() else []


def tcp_connections_to(pid: int, port: int) -> int:
    """Established TCP connections of ``pid`` to ``port`` on this machine, from /proc."""
    return tcp_connections_by_pid([pid], port)[pid]


def tcp_connections_by_pid(pids: Sequence[int], port: int) -> dict[int, int]:
    """Established TCP connections of each of ``pids`` to ``port``: the sockets' inodes from
    the kernel, matched against each process's file descriptors."""
    established = _established_to(port)
    counts = {}
    for pid in pids:
        count = 0
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:  # the process ended meanwhile: it holds none
            fds = []
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in established:
                count += 1
        counts[pid] = count
    return counts


def _established_to(port: int) -> set[str]:
    """The inodes of the established sockets whose far end is ``port``. ``ss`` asks the kernel
    for those alone (sock_diag, filtered in the kernel); the /proc tables it falls back to list
    every socket, and with ten thousand pages open, reading them every 2 s took a few seconds of
    the CPU the measured system needed."""
    ss = shutil.which("ss")
    if ss is not None:
        command = [ss, "-Htne", "state", "established", "dport", "=", f":{port}"]
        listing = subprocess.run(command, capture_output=True, text=True, check=False)
        if listing.returncode == 0:
            return set(re.findall(r"\bino:(\d+)", listing.stdout))
    remote = f":{port:04X} "
    established: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as lines:
            for line in lines:
                if remote in line:
                    parts = line.split()
                    if parts[2].endswith(remote.strip()) and parts[3] == "01":
                        established.add(parts[9])
    return established


def cpu_seconds(pids: Sequence[int]) -> float:
    """User and system CPU time of the processes, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]
