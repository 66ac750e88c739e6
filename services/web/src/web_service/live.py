"""What changes while a page is open, as Server-Sent Events from this origin.

- **Outcomes** (`/live/outcomes`): the signed-in student's decisions, relayed from the
  registration service's outcome stream (its own fan-out holds them on two Redis connections per
  process); `Last-Event-ID` passes through, so a reconnect misses nothing.
- **Seats** (`/live/programs/<id>/seats`) and the **opening board**
  (`/live/programs/<id>/board`, admins): one poller per program in each web process reads the
  catalog (and for the board the registration service's `/metrics` and waiting room) once a
  second while a page watches, and hands the same snapshot to every open page: a thousand open
  catalogs cost the registration service one read a second, not a thousand.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
from flask import Blueprint, Response, abort, current_app, request, stream_with_context
from prometheus_client.parser import text_string_to_metric_families

from web_service.backend import Backend
from web_service.pages.common import caller
from web_service.settings import WebSettings

log = logging.getLogger(__name__)
blp = Blueprint("live", __name__, url_prefix="/live")
HEARTBEAT_SECONDS = 15.0
POLL_SECONDS = 1.0
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class Feed:
    """A snapshot read by one poller thread while pages watch, handed to each of them."""

    def __init__(self, read: Callable[[], dict[str, Any]], every: float = POLL_SECONDS) -> None:
        self.read = read
        self.every = every
        self.pages: set[queue.Queue[str]] = set()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.last = ""

    def watch(self) -> queue.Queue[str]:
        page: queue.Queue[str] = queue.Queue(maxsize=5)
        with self.lock:
            self.pages.add(page)
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._poll, daemon=True)
                self.thread.start()
        if self.last:
            page.put_nowait(self.last)
        return page

    def leave(self, page: queue.Queue[str]) -> None:
        with self.lock:
            self.pages.discard(page)

    def _poll(self) -> None:
        while True:
            with self.lock:
                if not self.pages:
                    self.thread = None
                    return
            try:
                snapshot = json.dumps(self.read())
            except Exception:  # a service away a moment: the pages keep the last snapshot
                log.warning("live feed read failed", exc_info=True)
                snapshot = self.last
            if snapshot != self.last:
                self.last = snapshot
                with self.lock:
                    pages = list(self.pages)
                for page in pages:  # a slow page skips a snapshot; the next one is whole
                    with contextlib.suppress(queue.Full):
                        page.put_nowait(snapshot)
            time.sleep(self.every)


class Live:
    def __init__(self, settings: WebSettings, backend: Backend) -> None:
        self.settings = settings
        self.backend = backend
        self.feeds: dict[tuple[str, int], Feed] = {}
        self.lock = threading.Lock()
        self.counters: dict[int, tuple[float, float]] = {}

    def feed(self, kind: str, program_id: int) -> Feed:
        with self.lock:
            found = self.feeds.get((kind, program_id))
            if found is None:
                read = self._seats if kind == "seats" else self._board
                found = Feed(lambda: read(program_id), POLL_SECONDS if kind == "seats" else 2.0)
                self.feeds[(kind, program_id)] = found
            return found

    def _seats(self, program_id: int) -> dict[str, Any]:
        path = f"/v1/programs/{program_id}/catalog"
        catalog, failed = self.backend.read_shared("registration", path)
        if failed is not None:
            failed.raise_for_status()
        return {
            str(s["id"]): {"left": max(0, s["capacity"] - s["enrolled"]), "status": s["status"]}
            for c in catalog["classes"]
            for s in c["sections"]
        }

    def _board(self, program_id: int) -> dict[str, Any]:
        metrics = self.backend.anonymous("registration", "GET", "/metrics").text
        room = self.backend.as_web(
            "registration", "GET", f"/v1/programs/{program_id}/waiting-room"
        ).json()
        board = parse_board(metrics)
        decided = board.pop("decided_total")
        now = time.monotonic()
        before = self.counters.get(program_id)
        self.counters[program_id] = (now, decided)
        rate = (decided - before[1]) / (now - before[0]) if before and now > before[0] else 0.0
        seats = self._seats(program_id)
        filling = sorted(seats.items(), key=lambda item: item[1]["left"])[:15]
        return board | {
            "decisions_per_s": round(rate, 1),
            "waiting_room": room,
            "fullest": [{"section_id": k, **v} for k, v in filling],
        }


def parse_board(text: str) -> dict[str, Any]:
    """The figures an organiser watches, from the registration service's /metrics."""
    depth: dict[str, float] = {}
    oldest: dict[str, float] = {}
    rejected: dict[str, float] = {}
    decided = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = sample.labels
            if sample.name == "registration_queue_depth":
                depth[labels["partition"]] = sample.value
            elif sample.name == "registration_queue_oldest_age_seconds":
                oldest[labels["partition"]] = round(sample.value, 1)
            elif sample.name == "registration_decisions_total":
                decided += sample.value
                if labels.get("outcome") == "rejected":
                    reason = labels.get("reason") or "none"
                    rejected[reason] = rejected.get(reason, 0) + sample.value
    return {
        "decided_total": decided,
        "queues": [
            {"partition": p, "depth": depth[p], "oldest_s": oldest.get(p, 0.0)}
            for p in sorted(depth, key=int)
        ],
        "rejections": dict(sorted(rejected.items(), key=lambda kv: -kv[1])),
    }


def _events(page: queue.Queue[str], leave: Callable[[], None], event: str) -> Iterator[str]:
    try:
        yield "retry: 2000\n\n"
        while True:
            try:
                data = page.get(timeout=HEARTBEAT_SECONDS)
            except queue.Empty:
                yield ": keep-alive\n\n"
                continue
            yield f"event: {event}\ndata: {data}\n\n"
    finally:
        leave()


def _live() -> Live:
    found: Live = current_app.extensions["web.live"]
    return found


@blp.route("/programs/<int:program_id>/seats")
def seats(program_id: int) -> Response:
    feed = _live().feed("seats", program_id)
    page = feed.watch()
    body = _events(page, lambda: feed.leave(page), "seats")
    return Response(stream_with_context(body), mimetype="text/event-stream", headers=STREAM_HEADERS)


@blp.route("/programs/<int:program_id>/board")
def board(program_id: int) -> Response:
    session = caller().session
    if session is None or not session.is_admin:
        abort(403)
    feed = _live().feed("board", program_id)
    page = feed.watch()
    body = _events(page, lambda: feed.leave(page), "board")
    return Response(stream_with_context(body), mimetype="text/event-stream", headers=STREAM_HEADERS)


@blp.route("/outcomes")
def outcomes() -> Response:
    """The signed-in student's outcomes, relayed as they come (the token stays here)."""
    c = caller()
    session = c.session
    if session is None:
        abort(401)
    headers = {"Accept": "text/event-stream"}
    last = request.headers.get("Last-Event-ID")
    if last:
        headers["Last-Event-ID"] = last[:40]
    path = f"/v1/students/{session.account_id}/outcomes"
    client = c.backend.streams.next() if c.backend.streams else c.backend.clients["registration"]
    token = c.token()

    def relay() -> Iterator[bytes]:
        """The registration service's stream as it comes; when it ends or breaks (a restart),
        this one ends too and the browser reconnects with its Last-Event-ID."""
        timeout = httpx.Timeout(10, read=HEARTBEAT_SECONDS * 3)
        headers["Authorization"] = f"Bearer {token}"
        try:
            with client.stream("GET", path, headers=headers, timeout=timeout) as upstream:
                if upstream.status_code != 200:
                    yield b"retry: 5000\n\n"
                    return
                yield from upstream.iter_raw()
        except httpx.HTTPError as exc:
            log.info("outcome stream of %s ended: %s", path, exc)
            yield b"retry: 2000\n\n"

    return Response(relay(), mimetype="text/event-stream", headers=STREAM_HEADERS)
