"""Profile completion reaches the registration service by events only, over a real Redis:
catalog event → profile service learns the program; profile saved → outbox → stream →
registration's read model of complete profiles. Duplicates change nothing; a replay from the
start of the stream rebuilds the read model."""

from __future__ import annotations

import itertools

import pytest
import redis
from devstack.tokens import TEST_SIGNER
from profile_service.adapters.models import outbox as profile_outbox
from profile_service.api.app import create_app as create_profile_app
from profile_service.events import CATALOG_STREAM
from profile_service.migrate import upgrade as upgrade_profile
from profile_service.settings import ProfileSettings
from profile_service.use_cases.programs import handle_catalog_event
from profile_testkit import ADMIN, bearer, complete_profile
from registration_service.adapters.db import make_session_factory
from registration_service.adapters.models import CompleteProfileRow
from registration_service.adapters.models import outbox as registration_outbox
from registration_service.api.app import create_app as create_registration_app
from registration_service.events import PROFILES_STREAM
from registration_service.migrate import upgrade as upgrade_registration
from registration_service.settings import RegistrationSettings
from registration_service.use_cases.profiles import handle_profile_event
from servicekit.background import apply_events
from servicekit.events import StreamConsumer, StreamPublisher
from servicekit.outbox import relay_outbox
from sqlalchemy import select

_databases = itertools.count(1)


@pytest.fixture
def redis_url(redis_server) -> str:
    """A Redis database of this test's own, so its streams start empty."""
    url = redis_server.url.rsplit("/", 1)[0] + f"/{next(_databases) % 16}"
    redis.Redis.from_url(url).flushdb()
    return url


class Services:
    """The two services' apps and databases, and their relays' cycles run by hand."""

    def __init__(self, tmp_path, redis_url: str) -> None:
        self.redis = redis.Redis.from_url(redis_url)
        self.publisher = StreamPublisher(self.redis)
        registration_url = f"sqlite:///{tmp_path / 'registration.sqlite3'}"
        profile_url = f"sqlite:///{tmp_path / 'profile.sqlite3'}"
        upgrade_registration(registration_url)
        upgrade_profile(profile_url)
        self.registration = create_registration_app(
            RegistrationSettings(
                database_url=registration_url, redis_url=redis_url, jwt_jwks=TEST_SIGNER.jwks_json()
            )
        ).test_client()
        self.profile = create_profile_app(
            ProfileSettings(
                database_url=profile_url, redis_url=redis_url, jwt_jwks=TEST_SIGNER.jwks_json()
            )
        ).test_client()
        self.registration_engine, self.registration_sessions = make_session_factory(
            registration_url
        )
        self.profile_engine, self.profile_sessions = make_session_factory(profile_url)

    def publish_registration_outbox(self) -> int:
        return relay_outbox(self.registration_engine, registration_outbox, self.publisher)

    def publish_profile_outbox(self) -> int:
        return relay_outbox(self.profile_engine, profile_outbox, self.publisher)

    def profile_learns_programs(self) -> int:
        consumer = StreamConsumer(self.redis, CATALOG_STREAM, "profile", "test")
        return apply_events(consumer, self.profile_sessions, handle_catalog_event)

    def registration_applies_profiles(self, group: str = "registration", sessions=None) -> int:
        consumer = StreamConsumer(self.redis, PROFILES_STREAM, group, "test")
        return apply_events(consumer, sessions or self.registration_sessions, handle_profile_event)

    def complete_profiles(self, sessions=None) -> list[tuple[int, int, int]]:
        with (sessions or self.registration_sessions)() as session:
            rows = session.scalars(
                select(CompleteProfileRow).order_by(CompleteProfileRow.student_id)
            )
            return [(row.program_id, row.student_id, row.grade) for row in rows]


def test_profile_completion_reaches_the_registration_read_model(tmp_path, redis_url):
    services = Services(tmp_path, redis_url)
    created = services.registration.post(
        "/v1/programs",
        json={
            "name": "Splash",
            "grade_min": 7,
            "grade_max": 12,
            "registration_opens_at": "2026-12-01T09:00:00Z",
        },
        headers=ADMIN,
    )
    program = created.json["id"]
    profile_path = f"/v1/programs/{program}/students/{{}}/profile"

    # Before the catalog event arrives, the profile service has never heard of the program.
    early = services.profile.get(profile_path.format(7), headers=bearer(7))
    assert early.status_code == 404
    assert services.publish_registration_outbox() == 1
    assert services.profile_learns_programs() == 1

    for student, year in ((7, 2030), (8, 2028)):
        saved = services.profile.put(
            profile_path.format(student),
            json=complete_profile(graduation_year=year),
            headers=bearer(student),
        )
        assert saved.status_code == 200
    assert services.complete_profiles() == []  # nothing until the events are applied
    assert services.publish_profile_outbox() == 2
    assert services.registration_applies_profiles() == 2
    assert services.complete_profiles() == [(program, 7, 9), (program, 8, 11)]

    # Delivered again (a relay that crashed after publishing, before marking): no change.
    for _entry_id, fields in services.redis.xrange(PROFILES_STREAM):
        services.redis.xadd(PROFILES_STREAM, fields)
    assert services.registration_applies_profiles() == 0
    assert services.complete_profiles() == [(program, 7, 9), (program, 8, 11)]

    # A profile that loses a required field is withdrawn from the read model.
    incomplete = complete_profile(graduation_year=2030, guardian=None)
    services.profile.put(profile_path.format(7), json=incomplete, headers=bearer(7))
    services.publish_profile_outbox()
    assert services.registration_applies_profiles() == 1
    assert services.complete_profiles() == [(program, 8, 11)]

    # A new consumer group on an empty database replays the stream from its start.
    rebuilt_url = f"sqlite:///{tmp_path / 'rebuilt.sqlite3'}"
    upgrade_registration(rebuilt_url)
    engine, rebuilt = make_session_factory(rebuilt_url)
    assert services.registration_applies_profiles("rebuild", rebuilt) == 3
    assert services.complete_profiles(rebuilt) == services.complete_profiles()
    engine.dispose()
