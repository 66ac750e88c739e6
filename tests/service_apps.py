"""Each service's app on a fresh migrated SQLite file, for the cross-service API tests; the apps
trust ``devstack.tokens.TEST_SIGNER``, so ``devstack.tokens.issue_token`` makes their tokens.
The identity service trusts only its own key ring: the test key is put in it, as the one it
signs with."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from devstack.tokens import TEST_SIGNER
from flask import Flask
from identity_service.api.app import create_app as create_identity
from identity_service.migrate import upgrade as upgrade_identity
from identity_service.settings import IdentitySettings
from lottery_service.api.app import create_app as create_lottery
from lottery_service.migrate import upgrade as upgrade_lottery
from lottery_service.settings import LotterySettings
from profile_service.api.app import create_app as create_profile
from profile_service.migrate import upgrade as upgrade_profile
from profile_service.settings import ProfileSettings
from registration_service.api.app import create_app as create_registration
from registration_service.migrate import upgrade as upgrade_registration
from registration_service.settings import RegistrationSettings

_FACTORIES: dict[str, tuple[Callable[[str], None], type, Callable[..., Flask]]] = {
    "registration": (upgrade_registration, RegistrationSettings, create_registration),
    "profile": (upgrade_profile, ProfileSettings, create_profile),
    "lottery": (upgrade_lottery, LotterySettings, create_lottery),
    "identity": (upgrade_identity, IdentitySettings, create_identity),
}
SERVICES = sorted(_FACTORIES)


def make_app(name: str, directory: Path, redis_url: str) -> Flask:
    upgrade, settings_type, create_app = _FACTORIES[name]
    url = f"sqlite:///{directory / (name + '.sqlite3')}"
    upgrade(url)
    if name == "identity":
        keys = directory / "identity-keys"
        keys.mkdir(exist_ok=True)
        pem = TEST_SIGNER.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        (keys / f"{0:020d}-{TEST_SIGNER.kid}.pem").write_bytes(pem)
        mail = str(directory / "mail")
        return create_app(
            settings_type(database_url=url, redis_url=redis_url, keys_dir=str(keys), mail_dir=mail)
        )
    settings = settings_type(
        database_url=url, redis_url=redis_url, jwt_jwks=TEST_SIGNER.jwks_json()
    )
    return create_app(settings)
