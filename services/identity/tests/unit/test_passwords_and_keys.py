"""The password policy and the key ring, without a database."""

from __future__ import annotations

import os
import stat

import jwt
import pytest
from identity_service.domain.accounts import email_problem, normalize_email
from identity_service.domain.passwords import password_problem
from identity_service.keys import KeyRing


@pytest.mark.parametrize(
    ("password", "problem"),
    [
        ("correct horse battery staple", None),
        ("Tr0ub4dor&3x", None),
        ("nine-char", "at least 10"),
        ("Password123", "most common"),
        ("1234567890", "most common"),
        ("abababababab", "too few"),
        ("x" * 257, "at most 256"),
    ],
)
def test_the_password_policy_says_why(password, problem):
    found = password_problem(password)
    assert (found is None) if problem is None else (problem in found)


def test_a_password_may_not_hold_the_address():
    assert "email" in password_problem("my-grace.hopper-pass", email="grace.hopper@example.org")
    assert password_problem("my-grace.hopper-pass", email="g@example.org") is None


def test_addresses_are_compared_case_insensitively_and_checked_plainly():
    assert normalize_email("  Ada@Example.ORG ") == "ada@example.org"
    assert email_problem("ada@example.org") is None
    for bad in ("ada", "ada@localhost", "a da@example.org", "@example.org", "a" * 250 + "@x.org"):
        assert email_problem(bad) is not None, bad


def test_the_ring_signs_with_the_newest_key_and_publishes_the_ones_still_needed(tmp_path):
    ring = KeyRing(tmp_path / "keys", access_token_seconds=900, publish_ahead=0)
    first = ring.ensure()
    assert ring.ensure().kid == first.kid  # ensure makes one only when there is none
    token = ring.sign({"sub": "1"})
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": first.kid, "typ": "JWT"}
    public = jwt.PyJWKSet.from_dict(ring.jwks())[first.kid]
    assert jwt.decode(token, public.key, algorithms=["ES256"]) == {"sub": "1"}
    for path in (tmp_path / "keys").glob("*.pem"):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600  # only this service reads it

    second = ring.rotate()
    assert ring.signing_key().kid == second.kid
    assert [k["kid"] for k in ring.jwks()["keys"]] == [second.kid, first.kid]
    after_grace = second.created + ring.grace + 1
    assert [k.kid for k in ring.published(now=after_grace)] == [second.kid]


def test_a_rotated_key_is_published_before_it_signs(tmp_path):
    """Services refetch on an unknown kid at most every 5 s: a new key is in the JWKS 10 s
    before any token names it, and the old one keeps signing meanwhile."""
    ring = KeyRing(tmp_path / "keys", access_token_seconds=900, publish_ahead=10)
    old = ring.ensure()
    assert ring.signing_key().kid == old.kid  # a lone first key signs at once
    new = ring.rotate()
    soon, later = new.created + 5, new.created + 10
    assert ring.signing_key(now=soon).kid == old.kid
    assert [k.kid for k in ring.published(now=soon)] == [new.kid, old.kid]
    assert ring.signing_key(now=later).kid == new.kid
    assert [k.kid for k in ring.published(now=later)] == [new.kid, old.kid]
    retired = new.created + 10 + ring.grace + 1
    assert [k.kid for k in ring.published(now=retired)] == [new.kid]


def test_a_rotation_deletes_keys_already_retired(tmp_path):
    ring = KeyRing(tmp_path / "keys", access_token_seconds=0, publish_ahead=0)
    ring.ensure()
    ring.grace = -1  # every superseded key is past its grace at once
    newer = ring.rotate()
    newest = ring.rotate()
    kids = [key.kid for key in ring.all_keys()]
    assert newest.kid in kids and newer.kid in kids and len(kids) == 2
