"""Accounts and sign-in over HTTP, with the local mailbox as the student's inbox."""

from __future__ import annotations

import jwt
from identity_service.keys import KeyRing
from identity_testkit import (
    PASSWORD,
    bearer,
    link_token,
    messages,
    sign_in,
    sign_up,
    verified_account,
)


def test_sign_up_verify_sign_in_refresh_and_sign_out(client, settings):
    made = sign_up(client, "  Ada@Example.ORG ")
    assert made.status_code == 201
    assert made.json | {"id": 0, "created_at": ""} == {
        "id": 0,
        "email": "ada@example.org",
        "display_name": "Ada",
        "role": "student",
        "email_verified": False,
        "disabled": False,
        "created_at": "",
    }
    assert "password_hash" not in made.json
    unverified = sign_in(client, "ada@example.org")
    assert unverified.status_code == 403
    assert unverified.json["error"]["code"] == "email_not_verified"

    token = link_token(settings.mail_dir, "ada@example.org", "Confirm")
    verified = client.post("/v1/accounts/verify", json={"token": token})
    assert verified.json == {"id": made.json["id"], "email_verified": True}
    again = client.post("/v1/accounts/verify", json={"token": token})
    assert again.status_code == 422 and "token" in again.json["error"]["fields"]

    signed = sign_in(client, "ADA@example.org")
    assert signed.status_code == 201
    assert signed.json["token_type"] == "Bearer" and signed.json["expires_in"] == 900
    header = jwt.get_unverified_header(signed.json["access_token"])
    assert (
        header["alg"] == "ES256" and header["kid"] == KeyRing(settings.keys_dir).signing_key().kid
    )
    claims = jwt.decode(signed.json["access_token"], options={"verify_signature": False})
    assert claims["sub"] == str(made.json["id"]) and claims["role"] == "student"
    assert (claims["iss"], claims["aud"]) == ("esp-identity", "esp-services")
    assert claims["exp"] - claims["iat"] == 900
    me = client.get("/v1/accounts/me", headers=bearer(signed.json["access_token"]))
    assert me.json["email"] == "ada@example.org"

    refreshed = client.post(
        "/v1/sessions/refresh", json={"refresh_token": signed.json["refresh_token"]}
    )
    assert refreshed.status_code == 201
    assert refreshed.json["refresh_token"] != signed.json["refresh_token"]
    assert (
        client.post(
            "/v1/sessions/revoke", json={"refresh_token": refreshed.json["refresh_token"]}
        ).status_code
        == 204
    )
    ended = client.post(
        "/v1/sessions/refresh", json={"refresh_token": refreshed.json["refresh_token"]}
    )
    assert ended.status_code == 401 and ended.json["error"]["code"] == "invalid_refresh_token"


def test_a_reused_refresh_token_ends_its_whole_family(client, settings):
    verified_account(client, settings, "bo@example.org")
    first = sign_in(client, "bo@example.org").json
    other_session = sign_in(client, "bo@example.org").json  # another device: untouched
    second = client.post("/v1/sessions/refresh", json={"refresh_token": first["refresh_token"]})
    stolen = client.post("/v1/sessions/refresh", json={"refresh_token": first["refresh_token"]})
    assert stolen.status_code == 401
    assert stolen.json["error"]["code"] == "refresh_token_reused"
    owner = client.post(
        "/v1/sessions/refresh", json={"refresh_token": second.json["refresh_token"]}
    )
    assert owner.status_code == 401  # the thief's copy ended the owner's session too
    elsewhere = client.post(
        "/v1/sessions/refresh", json={"refresh_token": other_session["refresh_token"]}
    )
    assert elsewhere.status_code == 201


def test_weak_passwords_and_taken_addresses_are_refused_with_the_field_named(client, settings):
    for password, says in (
        ("short1", "at least 10"),
        ("password123", "most common"),
        ("aaaaaaaaaaaa", "too few"),
        ("cy-example-cy-pass", "email address"),
    ):
        refused = sign_up(client, "cy-example@example.org", password)
        assert refused.status_code == 422, password
        assert says in refused.json["error"]["fields"]["password"][0], password
    bad_email = sign_up(client, "not-an-address")
    assert bad_email.status_code == 422 and "email" in bad_email.json["error"]["fields"]
    assert sign_up(client, "dee@example.org").status_code == 201
    taken = sign_up(client, "DEE@example.org")
    assert taken.status_code == 409 and taken.json["error"]["code"] == "email_taken"
    verified_account(client, settings, "eve@example.org")
    assert sign_up(client, "eve@example.org").status_code == 409  # verified or not: same
    unknown = client.post("/v1/accounts", json={"email": "x@example.org", "password": PASSWORD})
    assert unknown.status_code == 422 and "display_name" in unknown.json["error"]["fields"]


def test_a_wrong_email_and_a_wrong_password_get_one_answer(client, settings):
    verified_account(client, settings, "fay@example.org")
    wrong_password = sign_in(client, "fay@example.org", "not the password at all")
    no_account = sign_in(client, "nobody@example.org", "not the password at all")
    assert wrong_password.status_code == no_account.status_code == 401
    assert wrong_password.json == no_account.json
    assert wrong_password.json["error"]["code"] == "invalid_credentials"


def test_failed_sign_ins_are_limited_and_then_even_the_right_password_waits(client, settings):
    verified_account(client, settings, "gus@example.org")
    for _ in range(5):
        assert sign_in(client, "gus@example.org", "wrong password here").status_code == 401
    limited = sign_in(client, "gus@example.org")  # the right password
    assert limited.status_code == 429
    assert limited.json["error"]["code"] == "too_many_requests"
    assert int(limited.headers["Retry-After"]) > 0
    # An address without an account is limited the same way: a 429 reveals nothing.
    for _ in range(5):
        assert sign_in(client, "ghost@example.org", "wrong password here").status_code == 401
    ghost = sign_in(client, "ghost@example.org", "wrong password here")
    assert ghost.status_code == 429 and ghost.json == limited.json
    # Another account from the same client is not held up by these (its own count).
    verified_account(client, settings, "hal@example.org")
    assert sign_in(client, "hal@example.org").status_code == 201


def test_a_client_address_is_limited_across_accounts(client, settings):
    for n in range(30):
        assert sign_in(client, f"spray{n}@example.org", "wrong password here").status_code == 401
    assert sign_in(client, "spray99@example.org", "wrong password here").status_code == 429


def test_a_password_reset_link_works_once_and_ends_every_session(client, settings):
    verified_account(client, settings, "ivy@example.org")
    session = sign_in(client, "ivy@example.org").json
    before = len(messages(settings.mail_dir))
    asked = client.post("/v1/password-resets", json={"email": "ivy@example.org"})
    nobody = client.post("/v1/password-resets", json={"email": "nobody@example.org"})
    assert asked.status_code == nobody.status_code == 202 and asked.json == nobody.json
    token = link_token(settings.mail_dir, "ivy@example.org", "Reset")
    assert len(messages(settings.mail_dir)) == before + 1  # none for the unknown address
    weak = client.post("/v1/password-resets/confirm", json={"token": token, "password": "abc"})
    assert weak.status_code == 422 and "password" in weak.json["error"]["fields"]
    new_password = "a brand new passphrase"
    done = client.post(
        "/v1/password-resets/confirm", json={"token": token, "password": new_password}
    )
    assert done.status_code == 200
    twice = client.post(
        "/v1/password-resets/confirm", json={"token": token, "password": new_password}
    )
    assert twice.status_code == 422 and "token" in twice.json["error"]["fields"]
    assert sign_in(client, "ivy@example.org").status_code == 401
    assert sign_in(client, "ivy@example.org", new_password).status_code == 201
    old = client.post("/v1/sessions/refresh", json={"refresh_token": session["refresh_token"]})
    assert old.status_code == 401


def test_admins_find_promote_and_disable_accounts(client, settings):
    from identity_service.cli import admin

    admin_password = "organiser passphrase 1"
    import io
    import sys

    stdin, sys.stdin = sys.stdin, io.StringIO(admin_password + "\n")
    try:
        import os

        os.environ["DATABASE_URL"] = settings.database_url
        from identity_service.settings import get_settings

        get_settings.cache_clear()
        admin(["create", "--email", "Boss@example.org"])
    finally:
        sys.stdin = stdin
        os.environ.pop("DATABASE_URL")
        get_settings.cache_clear()
    boss = sign_in(client, "boss@example.org", admin_password).json["access_token"]
    student_id = verified_account(client, settings, "jo@example.org")
    student = sign_in(client, "jo@example.org").json
    found = client.get("/v1/accounts?email=JO@example.org", headers=bearer(boss))
    assert [a["id"] for a in found.json["accounts"]] == [student_id]
    forbidden = client.get(
        "/v1/accounts?email=jo@example.org", headers=bearer(student["access_token"])
    )
    assert forbidden.status_code == 403
    promoted = client.patch(
        f"/v1/accounts/{student_id}", json={"role": "admin"}, headers=bearer(boss)
    )
    assert promoted.json["role"] == "admin"
    disabled = client.patch(
        f"/v1/accounts/{student_id}", json={"disabled": True}, headers=bearer(boss)
    )
    assert disabled.json["disabled"] is True
    ended = client.post("/v1/sessions/refresh", json={"refresh_token": student["refresh_token"]})
    assert ended.status_code == 401
    refused = sign_in(client, "jo@example.org")
    assert refused.status_code == 403 and refused.json["error"]["code"] == "account_disabled"
    bad = client.patch(f"/v1/accounts/{student_id}", json={"role": "owner"}, headers=bearer(boss))
    assert bad.status_code == 422 and "role" in bad.json["error"]["fields"]


def test_a_rotation_keeps_old_tokens_valid_and_new_ones_carry_the_new_kid(client, settings):
    verified_account(client, settings, "kim@example.org")
    before = sign_in(client, "kim@example.org").json["access_token"]
    ring = KeyRing(settings.keys_dir, publish_ahead=0)
    old_kid = ring.signing_key().kid
    new_kid = ring.rotate().kid
    after = sign_in(client, "kim@example.org").json["access_token"]
    assert jwt.get_unverified_header(after)["kid"] == new_kid != old_kid
    published = {key["kid"] for key in client.get("/.well-known/jwks.json").json["keys"]}
    assert published == {old_kid, new_kid}
    for token in (before, after):
        assert client.get("/v1/accounts/me", headers=bearer(token)).status_code == 200
    # Once the old key's tokens have all expired it is retired: no longer published.
    late = ring.all_keys()[0].created + ring.grace + 1
    assert [key.kid for key in ring.published(now=late)] == [new_kid]
