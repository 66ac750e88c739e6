"""Calls to the services, as the signed-in person: their access token on every call, refreshed
through the identity service when it is about to expire (or a service says it has)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from web_service.sessions import BrowserSession, SessionStore, expires_at

SERVICES = ("registration", "profile", "lottery", "identity")
REFRESH_AHEAD_SECONDS = 30


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
    the same second cost the registration service one read of it, not two hundred. One caller
    reads while the others of that key wait for its answer (no stampede when it expires). Only
    200 answers are kept."""

    def __init__(self, ttl: float = 1.0) -> None:
        self.ttl = ttl
        self._kept: dict[tuple[str, str], tuple[float, Any]] = {}
        self._locks: dict[tuple[str, str], threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, backend: Backend, service: str, path: str) -> tuple[Any, httpx.Response | None]:
        """(the JSON, None) for a 200, kept or fresh; (None, the answer) for anything else."""
        if self.ttl <= 0:  # not shared: each page its own read
            answer = backend.as_web(service, "GET", path)
            return (answer.json(), None) if answer.status_code == 200 else (None, answer)
        key = (service, path)
        kept = self._fresh(key)
        if kept is not None:
            return kept, None
        with self._guard:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            kept = self._fresh(key)
            if kept is not None:
                return kept, None
            answer = backend.as_web(service, "GET", path)
            if answer.status_code != 200:
                return None, answer
            value = answer.json()
            self._kept[key] = (time.monotonic(), value)
            return value, None

    def _fresh(self, key: tuple[str, str]) -> Any:
        found = self._kept.get(key)
        if found is not None and time.monotonic() - found[0] < self.ttl:
            return found[1]
        return None


@dataclass
class Backend:
    clients: dict[str, httpx.Client]
    account: ServiceAccount = field(default_factory=lambda: ServiceAccount(None, None))
    # Open outcome streams hold their connection for as long as the page is open: their own
    # client, with no pool limit, so a thousand open pages never starve the short calls.
    streams: httpx.Client | None = None
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
        unlimited = httpx.Limits(max_connections=None, max_keepalive_connections=0)
        streams = httpx.Client(base_url=urls["registration"], timeout=10, limits=unlimited)
        return cls(clients, account, streams, SharedReads(shared_reads_seconds))

    def anonymous(self, service: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.clients[service].request(method, path, **kwargs)

    def as_web(self, service: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A call with the web's own token (what anybody may see)."""
        headers = self.account.bearer(self.clients["identity"])
        return self.clients[service].request(method, path, headers=headers, **kwargs)


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
