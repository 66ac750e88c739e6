"""A consumer stopped longer than the streams' retention catches up from the database: the
registration relay's profile consumer misses completions and a withdrawal that Redis trimmed,
says so (an error naming the replay command, one count in stream_consumer_gaps_total), and
after `profile-announce-profiles` its read model of complete profiles is exactly the profile
service's truth: nothing lost, nothing twice, and running the command again changes nothing."""

from __future__ import annotations

import logging
import time

import redis
from devstack.tokens import TEST_SIGNER
from profile_service import announce
from profile_service.adapters.models import outbox as profile_outbox
from profile_service.api.app import create_app as create_profile_app
from profile_service.events import CATALOG_STREAM
from profile_service.migrate import upgrade as upgrade_profile
from profile_service.settings import ProfileSettings
from profile_service.use_cases.programs import handle_catalog_event
from profile_testkit import ADMIN, bearer, complete_profile
from prometheus_client import REGISTRY
from registration_service.adapters.db import make_session_factory
from registration_service.adapters.models import CompleteProfileRow
from registration_service.adapters.models import outbox as registration_outbox
from registration_service.api.app import create_app as create_registration_app
from registration_service.events import PROFILES_STREAM
from registration_service.migrate import upgrade as upgrade_registration
from registration_service.settings import RegistrationSettings
from registration_service.use_cases.profiles import handle_profile_event
from registration_service.worker.relay import CONSUMER_GROUP, PROFILES_REPLAY
from servicekit.background import apply_events
from servicekit.events import StreamConsumer, StreamPublisher
from servicekit.outbox import relay_outbox
from sqlalchemy import func, select

RETENTION = 1  # second


def test_a_consumer_stopped_past_the_retention_catches_up_by_the_replay_command(
    tmp_path, redis_server, monkeypatch, caplog
):
    redis_url = redis_server.url.rsplit("/", 1)[0] + "/9"
    client = redis.Redis.from_url(redis_url)
    client.flushdb()
    publisher = StreamPublisher(client, retention_seconds=RETENTION)
    registration_url = f"sqlite:///{tmp_path / 'registration.sqlite3'}"
    profile_url = f"sqlite:///{tmp_path / 'profile.sqlite3'}"
    upgrade_registration(registration_url)
    upgrade_profile(profile_url)
    jwks = TEST_SIGNER.jwks_json()
    registration = create_registration_app(
        RegistrationSettings(database_url=registration_url, redis_url=redis_url, jwt_jwks=jwks)
    ).test_client()
    profile = create_profile_app(
        ProfileSettings(database_url=profile_url, redis_url=redis_url, jwt_jwks=jwks)
    ).test_client()
    registration_engine, registration_sessions = make_session_factory(registration_url)
    profile_engine, profile_sessions = make_session_factory(profile_url)

    # Dated: grades are counted from the program's opening (from today without one, and the
    # grades below would move on at the next school year's rollover).
    body = {"name": "Splash", "grade_min": 7, "grade_max": 12}
    body["registration_opens_at"] = "2026-12-01T09:00:00Z"
    program = registration.post("/v1/programs", json=body, headers=ADMIN).json["id"]
    relay_outbox(registration_engine, registration_outbox, publisher)
    apply_events(
        StreamConsumer(client, CATALOG_STREAM, "profile", "p"),
        profile_sessions,
        handle_catalog_event,
    )

    def save(student: int, **changes: object) -> None:
        path = f"/v1/programs/{program}/students/{student}/profile"
        body = complete_profile(graduation_year=2027 + student % 3, **changes)
        assert profile.put(path, json=body, headers=bearer(student)).status_code == 200

    def publish_profiles() -> None:
        while relay_outbox(profile_engine, profile_outbox, publisher):
            pass

    def read_model() -> list[tuple[int, int]]:
        with registration_sessions() as session:
            rows = session.scalars(
                select(CompleteProfileRow).order_by(CompleteProfileRow.student_id)
            )
            return [(row.student_id, row.grade) for row in rows]

    def relay_runs(consumer: StreamConsumer) -> None:
        while apply_events(consumer, registration_sessions, handle_profile_event):
            pass

    relay = StreamConsumer(
        client, PROFILES_STREAM, CONSUMER_GROUP, "r1", replay_hint=PROFILES_REPLAY
    )
    for student in (7, 8):
        save(student)
    publish_profiles()
    relay_runs(relay)
    assert [s for s, _ in read_model()] == [7, 8]

    # The relay is stopped; two completions and a withdrawal go by, then the retention.
    save(9)
    save(10)
    save(8, guardian=None)  # incomplete again: withdrawn
    publish_profiles()
    time.sleep(RETENTION + 0.2)
    save(11)
    publish_profiles()  # trims the three it never read
    assert client.xlen(PROFILES_STREAM) == 1

    labels = {"stream": PROFILES_STREAM, "group": CONSUMER_GROUP}
    counted = REGISTRY.get_sample_value("stream_consumer_gaps_total", labels) or 0.0
    restarted = StreamConsumer(
        client, PROFILES_STREAM, CONSUMER_GROUP, "r2", replay_hint=PROFILES_REPLAY
    )
    with caplog.at_level(logging.ERROR, logger="servicekit.events"):
        relay_runs(restarted)
    told = [r.getMessage() for r in caplog.records if "missed events" in r.getMessage()]
    assert len(told) == 1 and "profile-announce-profiles" in told[0]
    assert REGISTRY.get_sample_value("stream_consumer_gaps_total", labels) == counted + 1
    assert [s for s, _ in read_model()] == [7, 8, 11]  # 8 stale, 9 and 10 missing

    # The documented command, as an operator runs it: the read model is the profiles' truth.
    monkeypatch.setenv("DATABASE_URL", profile_url)
    for _ in range(2):  # twice: the second changes nothing
        announce.main()
        publish_profiles()
        relay_runs(restarted)
        assert read_model() == [(7, 11), (9, 12), (10, 11), (11, 10)]  # graduating 2028, 2027
    with registration_sessions() as session:
        assert session.scalar(select(func.count()).select_from(CompleteProfileRow)) == 4
    assert REGISTRY.get_sample_value("stream_consumer_gaps_total", labels) == counted + 1
    registration_engine.dispose()
    profile_engine.dispose()
