"""Calls to the services, as the signed-in person: their access token on every call, refreshed
through the identity service when it is about to expire (or a service says it has)."""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from flask import g, has_request_context

from web_service.sessions import BrowserSession, SessionStore, expires_at

log = logging.getLogger(__name__)
SERVICES = ("registration", "profile", "lottery", "identity")
REFRESH_AHEAD_SECONDS = 30


@contextmanager
def timed(part: str) -> Iterator[None]:
    """Add the time spent in the block to this request's ``part`` of its Server-Timing header
    (nothing outside a request: a background read)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        if has_request_context() and "timings" in g:
            g.timings[part] = g.timings.get(part, 0.0) + time.perf_counter() - started


class SignedOut(Exception):
    """The session ended (refresh refused): sign in again."""


class ServiceAccount:
    """The web's own sign-in (see ``WebSettings.web_account_email``): a token for what it
    reads on nobody's behalf, signed in on first use and refreshed like a person's."""

    def __init__(self, email: str | None, password: str | None) -> None:
        self.email, self.password = email, password
        self.token: str | None = None
        self.expires_at = 0.0
        self.lock = threading.Lock()

    def bearer(self, identity: httpx.Client) -> dict[str, str]:
        if not self.email or not self.password:
            return {}
        with self.lock:
            if self.token is None or self.expires_at - time.time() < REFRESH_AHEAD_SECONDS:
                answer = identity.post(
                    "/v1/sessions", json={"email": self.email, "password": self.password}
                )
                if answer.status_code != 201:
                    raise RuntimeError(f"the web's account cannot sign in: {answer.status_code}")
                tokens = answer.json()
                self.token, self.expires_at = (
                    tokens["access_token"],
                    expires_at(tokens["expires_in"]),
                )
        return {"Authorization": f"Bearer {self.token}"}


class SharedReads:
    """What every student is shown the same (a program, its catalog, timeslots and waiting
    room), read with the web's own token at most once per ``ttl`` seconds per key and process
    and handed to every page that asks meanwhile: two hundred students opening the catalog in
    the same second cost the registration service one read of it, not two hundred.

    Past ``ttl`` a page is given what was read last while one reader, in the background, reads
    it again (stale while revalidating): no page waits for the read, which in a rush takes as
    long as the registration service's busiest moment. What is older than ``keep_stale`` (a
    service away that long) is not shown: the next page reads it itself, one caller per key
    while the others of that key wait for its answer. Only successful answers are kept."""

    STRIPES = 64  # locks, shared by keys: as many as the paths asked for would grow unbounded

    def __init__(self, ttl: float = 1.0, keep_stale: float = 30.0) -> None:
        self.ttl = ttl
        self.keep_stale = max(keep_stale, 2 * ttl)  # a long ttl still shows the last read
        self._kept: dict[Hashable, tuple[float, Any]] = {}
        self._locks = [threading.Lock() for _ in range(self.STRIPES)]
        self._refreshing: set[Hashable] = set()
        self._guard = threading.Lock()

    def get(
        self, key: Hashable, read: Callable[[], httpx.Response]
    ) -> tuple[Any, httpx.Response | None]:
        """(the JSON, None) kept or fresh from ``read``; (None, the answer) for anything but a
        200 when nothing is kept."""
        if self.ttl <= 0:  # not shared: each page its own read
            return self._read(None, read)
        kept = self._kept.get(key)
        if kept is not None:
            age = time.monotonic() - kept[0]
            if age < self.ttl:
                return kept[1], None
            if age < self.keep_stale:
                self._refresh(key, read)
                return kept[1], None
        with self._lock(key):
            kept = self._kept.get(key)
            if kept is not None and time.monotonic() - kept[0] < self.ttl:
                return kept[1], None  # read by the caller this one waited for
            return self._read(key, read)

    def _lock(self, key: Hashable) -> threading.Lock:
        return self._locks[hash(key) % self.STRIPES]

    def _read(
        self, key: Hashable | None, read: Callable[[], httpx.Response]
    ) -> tuple[Any, httpx.Response | None]:
        answer = read()
        if answer.status_code != 200:
            return None, answer
        value = answer.json()
        if key is not None:
            self._kept[key] = (time.monotonic(), value)
        return value, None

    def _refresh(self, key: Hashable, read: Callable[[], httpx.Response]) -> None:
        """Read ``key`` again in the background, unless a reader is at it already."""
        with self._guard:
            if key in self._refreshing:
                return
            self._refreshing.add(key)

        def refresh() -> None:
            try:
                with self._lock(key):
                    self._read(key, read)
            except Exception:  # the pages keep what was read last until keep_stale
                log.warning("shared read of %s failed", key, exc_info=True)
            finally:
                with self._guard:
                    self._refreshing.discard(key)

        threading.Thread(target=refresh, name="shared-read", daemon=True).start()


class StreamClients:
    """Clients for the open outcome streams, each page's stream on the next one in turn.

    An httpx client's pool looks over every connection it holds when a request starts or ends,
    so one client holding the streams of 5,000 open pages spent the opening's first seconds
    scanning its pool (10,000 pages opened at once: a quarter of them waited past the session
    store's 10 s and were answered 503). Shards of at most a few hundred streams each keep that
    scan short; they share one TLS context."""

    SHARDS = 32

    def __init__(self, base_url: str, shards: int = SHARDS) -> None:
        unlimited = httpx.Limits(max_connections=None, max_keepalive_connections=0)
        tls = httpx.create_ssl_context()
        self._clients = [
            httpx.Client(base_url=base_url, timeout=10, limits=unlimited, verify=tls)
            for _ in range(shards)
        ]
        self._turn = itertools.count()

    def next(self) -> httpx.Client:
        return self._clients[next(self._turn) % len(self._clients)]

    def close(self) -> None:
        for client in self._clients:
            client.close()


@dataclass
class Backend:
    clients: dict[str, httpx.Client]
    account: ServiceAccount = field(default_factory=lambda: ServiceAccount(None, None))
    # Open outcome streams hold their connection for as long as the page is open: clients of
    # their own, with no pool limit, so a thousand open pages never starve the short calls.
    streams: StreamClients | None = None
    shared: SharedReads = field(default_factory=SharedReads)

    @classmethod
    def connect(
        cls, urls: dict[str, str], account: ServiceAccount, shared_reads_seconds: float = 1.0
    ) -> Backend:
        # Idle connections are let go after 1.5 s, before the services' servers close theirs (2 s):
        # a request sent on a connection the server was closing failed as "reset by peer".
        limits = httpx.Limits(
            max_connections=50, max_keepalive_connections=20, keepalive_expiry=1.5
        )
        clients = {
            name: httpx.Client(base_url=url, timeout=10, limits=limits)
            for name, url in urls.items()
        }
        streams = StreamClients(urls["registration"])
        return cls(clients, account, streams, SharedReads(shared_reads_seconds))

    def close(self) -> None:
        """Close every client's connections."""
        for client in self.clients.values():
            client.close()
        if self.streams is not None:
            self.streams.close()

    def anonymous(self, service: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with timed(service):
            return self.clients[service].request(method, path, **kwargs)

    def as_web(self, service: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A call with the web's own token (what anybody may see)."""
        headers = self.account.bearer(self.clients["identity"])
        with timed(service):
            return self.clients[service].request(method, path, headers=headers, **kwargs)

    def read_shared(self, service: str, path: str) -> tuple[Any, httpx.Response | None]:
        """A GET of what everyone is shown the same, through :class:`SharedReads`."""
        return self.shared.get((service, path), lambda: self.as_web(service, "GET", path))


class Caller:
    """One request's calls, as the browser session's person (or anonymously)."""

    def __init__(
        self,
        backend: Backend,
        store: SessionStore,
        session_id: str | None,
        session: BrowserSession | None,
    ) -> None:
        self.backend = backend
        self.store = store
        self.session_id = session_id
        self.session = session

    def call(self, service: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if self.session is None:
            return self.backend.as_web(service, method, path, **kwargs)
        if self.session.access_expires_at - time.time() < REFRESH_AHEAD_SECONDS:
            self._refresh()
        response = self._send(service, method, path, **kwargs)
        if response.status_code == 401 and _code(response) == "token_expired":
            self._refresh()
            response = self._send(service, method, path, **kwargs)
        return response

    def token(self) -> str:
        """The session's access token, refreshed first when it is about to expire."""
        assert self.session is not None
        if self.session.access_expires_at - time.time() < REFRESH_AHEAD_SECONDS:
            self._refresh()
        assert self.session is not None
        return self.session.access_token

    def get(self, service: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.call(service, "GET", path, **kwargs)

    def post(self, service: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.call(service, "POST", path, **kwargs)

    def _send(self, service: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        assert self.session is not None
        headers = dict(kwargs.pop("headers", None) or {})
        headers["Authorization"] = f"Bearer {self.session.access_token}"
        with timed(service):
            return self.backend.clients[service].request(method, path, headers=headers, **kwargs)

    def _refresh(self) -> None:
        assert self.session is not None and self.session_id is not None
        answer = self.backend.anonymous(
            "identity",
            "POST",
            "/v1/sessions/refresh",
            json={"refresh_token": self.session.refresh_token},
        )
        if answer.status_code != 201:
            self.store.delete(self.session_id)
            self.session = None
            raise SignedOut()
        tokens = answer.json()
        self.session.access_token = tokens["access_token"]
        self.session.refresh_token = tokens["refresh_token"]
        self.session.access_expires_at = expires_at(tokens["expires_in"])
        self.store.save(self.session_id, self.session)


def _code(response: httpx.Response) -> str | None:
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return None
