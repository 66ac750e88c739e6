"""Browser sessions, server-side: the cookie holds only a random id; the tokens stay here, in
Redis, and never reach the page or its scripts."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import asdict, dataclass

import redis

PREFIX = "web.session."


@dataclass
class BrowserSession:
    account_id: int
    role: str
    email: str
    name: str
    access_token: str
    refresh_token: str
    access_expires_at: float  # unix seconds

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


class SessionStore:
    def __init__(self, client: redis.Redis, lifetime_seconds: int) -> None:
        self.client = client
        self.lifetime = lifetime_seconds

    def create(self, session: BrowserSession) -> str:
        session_id = secrets.token_urlsafe(32)
        self.save(session_id, session)
        return session_id

    def save(self, session_id: str, session: BrowserSession) -> None:
        self.client.set(PREFIX + session_id, json.dumps(asdict(session)), ex=self.lifetime)

    def load(self, session_id: str | None) -> BrowserSession | None:
        if not session_id or len(session_id) > 100:
            return None
        raw = self.client.get(PREFIX + session_id)
        return BrowserSession(**json.loads(raw)) if raw else None

    def delete(self, session_id: str) -> None:
        self.client.delete(PREFIX + session_id)


def expires_at(expires_in: int) -> float:
    return time.time() + expires_in
