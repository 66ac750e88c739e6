"""Identity under `make up` (issue 20), as the README's walk does it with curl: a student signs
up, verifies the address from the mailbox under var/mail, signs in, and the token works on every
service; the development admin and `make token` work too; after `identity-keys rotate` the old
token still works and new ones carry the new key; no service's environment holds a secret that
could mint a token."""

import json
import re
import subprocess
import sys
from pathlib import Path

import httpx
import jwt
import pytest
from devstack.upstack import UpStack
from test_make_up_restarts import _retry_until

pytestmark = pytest.mark.slow

PASSWORD = "a long enough passphrase"


def test_sign_up_verify_sign_in_and_use_the_token_everywhere(tmp_path):
    up = UpStack(tmp_path).start()
    env = up.env
    try:
        url = {name: up.url(name) for name in ("registration", "profile", "lottery", "identity")}
        identity = url["identity"]

        made = httpx.post(
            f"{identity}/v1/accounts",
            json={"email": "grace@example.org", "password": PASSWORD, "display_name": "Grace"},
        )
        assert made.status_code == 201, made.text
        student = made.json()["id"]
        mail = sorted((tmp_path / "mail").glob("*.eml"))
        assert mail, "no message under var/mail"
        token = re.search(r"token=([A-Za-z0-9_\-]+)", mail[-1].read_text()).group(1)
        assert (
            httpx.post(f"{identity}/v1/accounts/verify", json={"token": token}).status_code == 200
        )
        signed = httpx.post(
            f"{identity}/v1/sessions", json={"email": "grace@example.org", "password": PASSWORD}
        ).json()
        mine = {"Authorization": f"Bearer {signed['access_token']}"}
        for path in (
            f"{url['registration']}/v1/programs",
            f"{url['profile']}/v1/programs/1/students/{student}/profile",
            f"{url['lottery']}/v1/programs/1/students/{student}/stars",
            f"{identity}/v1/accounts/me",
        ):
            answer = httpx.get(path, headers=mine)
            assert answer.status_code not in (401, 403), (path, answer.text)
        other = httpx.get(
            f"{url['registration']}/v1/programs/1/students/{student + 1}/sections", headers=mine
        )
        assert other.status_code == 403  # a student acts only for themselves

        # The development admin, as `make up` said, and `make token`.
        admin_password = (tmp_path / "dev-admin-password").read_text().strip()
        admin = httpx.post(
            f"{identity}/v1/sessions",
            json={"email": "admin@example.org", "password": admin_password},
        ).json()["access_token"]
        made_program = httpx.post(
            f"{url['registration']}/v1/programs",
            json={"name": "Splash", "grade_min": 7, "grade_max": 12},
            headers={"Authorization": f"Bearer {admin}"},
        )
        assert made_program.status_code == 201
        printed_token = subprocess.run(
            [sys.executable, "-m", "devstack.token", "--role", "admin"],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        assert (
            httpx.get(
                f"{url['registration']}/v1/programs/1/opening",
                headers={"Authorization": f"Bearer {printed_token}"},
            ).status_code
            == 200
        )

        # Rotation: the old token keeps working; a new one carries the new key.
        keys_cli = [Path(sys.executable).with_name("identity-keys"), "rotate"]
        rotated = subprocess.run(
            keys_cli,
            env={**env, "KEYS_DIR": str(tmp_path / "identity-keys")},
            capture_output=True,
            text=True,
            check=True,
        )
        assert "new signing key" in rotated.stdout
        assert httpx.get(f"{url['registration']}/v1/programs", headers=mine).status_code == 200
        # The new key signs once it has been published for 10 s; the old one until then.
        fresh = _retry_until(
            lambda: httpx.post(
                f"{identity}/v1/sessions",
                json={"email": "grace@example.org", "password": PASSWORD},
            ).json()["access_token"],
            lambda token: (
                jwt.get_unverified_header(token)["kid"]
                != jwt.get_unverified_header(signed["access_token"])["kid"]
            ),
        )
        assert (
            jwt.get_unverified_header(fresh)["kid"]
            != jwt.get_unverified_header(signed["access_token"])["kid"]
        )
        for name in ("registration", "profile", "lottery"):  # each refetches on the new kid
            answer = httpx.get(
                f"{url[name]}/v1/programs/1/students/{student}/"
                + {"registration": "sections", "profile": "profile", "lottery": "stars"}[name],
                headers={"Authorization": f"Bearer {fresh}"},
            )
            assert answer.status_code not in (401, 403), (name, answer.text)

        # No service but identity holds anything that signs.
        pids = json.loads((tmp_path / "up.json").read_text())
        for name in ("registration-web", "profile-web", "lottery-web", "registration-relay"):
            environ = Path(f"/proc/{pids[name]}/environ").read_bytes().split(b"\0")
            keys = {item.split(b"=", 1)[0].decode() for item in environ if b"=" in item}
            assert "JWT_SECRET" not in keys and "JWT_JWKS_URL" in keys, name
            assert not any(b"PRIVATE KEY" in item for item in environ), name
    finally:
        assert up.stop() == 0
    assert "stopped\n" in up.printed
    assert any("development admin: admin@example.org" in line for line in up.printed), up.printed
