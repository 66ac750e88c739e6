"""Each service's app on a fresh migrated SQLite file, for the cross-service API tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flask import Flask
from lottery_service.api.app import create_app as create_lottery
from lottery_service.migrate import upgrade as upgrade_lottery
from lottery_service.settings import LotterySettings
from profile_service.api.app import create_app as create_profile
from profile_service.migrate import upgrade as upgrade_profile
from profile_service.settings import ProfileSettings
from registration_service.api.app import create_app as create_registration
from registration_service.migrate import upgrade as upgrade_registration
from registration_service.settings import RegistrationSettings

SECRET = "cross-service-tests-secret-0123456789abcdef"

_FACTORIES: dict[str, tuple[Callable[[str], None], type, Callable[..., Flask]]] = {
    "registration": (upgrade_registration, RegistrationSettings, create_registration),
    "profile": (upgrade_profile, ProfileSettings, create_profile),
    "lottery": (upgrade_lottery, LotterySettings, create_lottery),
}
SERVICES = sorted(_FACTORIES)


def make_app(name: str, directory: Path, redis_url: str) -> Flask:
    upgrade, settings_type, create_app = _FACTORIES[name]
    url = f"sqlite:///{directory / (name + '.sqlite3')}"
    upgrade(url)
    return create_app(settings_type(database_url=url, redis_url=redis_url, jwt_secret=SECRET))
