"""Fixtures for the event contract tests: the golden payloads, a comparison with them, and each
service's migrated SQLite database (copied from one migrated template per run)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from identity_service.migrate import upgrade as upgrade_identity
from lottery_service.migrate import upgrade as upgrade_lottery
from profile_service.migrate import upgrade as upgrade_profile
from registration_service.migrate import upgrade as upgrade_registration
from servicekit.db import make_engine
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

CONTRACTS = Path(__file__).parent


def golden(event_type: str) -> dict[str, Any]:
    """The golden example payload of ``event_type``."""
    return json.loads((CONTRACTS / f"{event_type}.json").read_text())


def assert_like_golden(payload: dict[str, Any], event_type: str, **generated: object) -> None:
    """``payload`` has the golden's keys and JSON types, and its values except ``generated``
    (ids the database chose), which must be those given."""
    example = golden(event_type)
    assert sorted(payload) == sorted(example), f"{event_type}: the payload's fields changed"
    types = {name: type(value).__name__ for name, value in payload.items()}
    assert types == {name: type(value).__name__ for name, value in example.items()}, event_type
    assert payload == example | generated, event_type


def staged(session: Session, outbox: Any, event_type: str) -> list[tuple[str, dict[str, Any]]]:
    """(stream, payload) of each outbox row of ``event_type``, as the relay would publish it."""
    query = select(outbox.c.stream, outbox.c.body).where(outbox.c.event_type == event_type)
    rows = session.execute(query.order_by(outbox.c.id)).all()
    return [(row.stream, json.loads(row.body)["payload"]) for row in rows]


@pytest.fixture(name="golden")
def golden_fixture() -> Callable[[str], dict[str, Any]]:
    return golden


@pytest.fixture(name="like_golden")
def like_golden_fixture() -> Callable[..., None]:
    return assert_like_golden


@pytest.fixture(name="staged")
def staged_fixture() -> Callable[..., list[tuple[str, dict[str, Any]]]]:
    return staged


def _template(tmp_path_factory: pytest.TempPathFactory, name: str, upgrade: Callable) -> Path:
    path = tmp_path_factory.mktemp(f"{name}-template") / f"{name}.sqlite3"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def registration_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _template(tmp_path_factory, "registration", upgrade_registration)


@pytest.fixture(scope="session")
def profile_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _template(tmp_path_factory, "profile", upgrade_profile)


def _session(template: Path, tmp_path: Path) -> Iterator[Session]:
    """One open transaction on a fresh copy of a migrated database, as a view or task holds."""
    path = tmp_path / template.name
    shutil.copy(template, path)
    engine = make_engine(f"sqlite:///{path}")
    with sessionmaker(engine, expire_on_commit=False)() as session, session.begin():
        yield session
    engine.dispose()


@pytest.fixture
def registration_session(registration_template: Path, tmp_path: Path) -> Iterator[Session]:
    yield from _session(registration_template, tmp_path)


@pytest.fixture
def profile_session(profile_template: Path, tmp_path: Path) -> Iterator[Session]:
    yield from _session(profile_template, tmp_path)


@pytest.fixture(scope="session")
def identity_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _template(tmp_path_factory, "identity", upgrade_identity)


@pytest.fixture
def identity_session(identity_template: Path, tmp_path: Path) -> Iterator[Session]:
    yield from _session(identity_template, tmp_path)


@pytest.fixture(scope="session")
def lottery_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _template(tmp_path_factory, "lottery", upgrade_lottery)


@pytest.fixture
def lottery_session(lottery_template: Path, tmp_path: Path) -> Iterator[Session]:
    yield from _session(lottery_template, tmp_path)
