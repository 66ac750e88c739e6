"""Fixtures: a migrated SQLite database, a key ring and a mailbox per test, a real Redis (its own
database, emptied) for the sign-in limits, and the app."""

from __future__ import annotations

import shutil

import pytest
import redis
from identity_service.api.app import create_app
from identity_service.keys import KeyRing
from identity_service.migrate import upgrade
from identity_service.settings import IdentitySettings


@pytest.fixture(scope="session")
def migrated_template(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("template") / "identity.sqlite3"
    upgrade(f"sqlite:///{path}")
    return str(path)


@pytest.fixture
def settings(migrated_template, tmp_path, redis_server) -> IdentitySettings:
    path = tmp_path / "identity.sqlite3"
    shutil.copy(migrated_template, path)
    redis_url = redis_server.url.rsplit("/", 1)[0] + "/9"
    redis.Redis.from_url(redis_url).flushdb()
    KeyRing(tmp_path / "keys").ensure()
    return IdentitySettings(
        database_url=f"sqlite:///{path}",
        redis_url=redis_url,
        keys_dir=str(tmp_path / "keys"),
        mail_dir=str(tmp_path / "mail"),
        sign_in_limit_per_account="5 per 15 minutes",
        sign_in_limit_per_address="30 per minute",
        key_publish_ahead_seconds=0,  # a rotated key signs at once here (its delay: unit tests)
    )


@pytest.fixture
def client(settings):
    return create_app(settings).test_client()
