"""Tokens are verified against the identity service's public keys (a JWKS): real ES256 keys
made here, trusted through an inline key set as a service trusts ``JWT_JWKS``."""

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from devstack.tokens import Signer
from servicekit import auth
from servicekit.auth import (
    KEYS_LIFETIME_SECONDS,
    REFETCH_AFTER_SECONDS,
    AuthError,
    KeySet,
    Role,
    TokenVerifier,
)
from servicekit.settings import DEFAULT_AUDIENCE, DEFAULT_ISSUER

TRUSTED = Signer.generate()


def verifier_trusting(*signers: Signer) -> TokenVerifier:
    jwks = json.dumps({"keys": [signer.jwk() for signer in signers]})
    return TokenVerifier(KeySet.from_settings(inline=jwks), DEFAULT_ISSUER, DEFAULT_AUDIENCE)


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    values = {
        "sub": "admin",
        "role": "admin",
        "iss": DEFAULT_ISSUER,
        "aud": DEFAULT_AUDIENCE,
        "iat": now,
        "exp": now + 600,
    }
    return {key: value for key, value in (values | changes).items() if value is not None}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned(header: dict[str, Any], body: dict[str, Any]) -> str:
    return f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(body).encode())}"


def public_pem(signer: Signer) -> bytes:
    return signer.key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def hs256_with_public_key(signer: Signer) -> str:
    """The algorithm-confusion forgery: HS256 keyed with the public key's PEM, which anyone can
    read from the JWKS. Built by hand, as PyJWT refuses a PEM as an HMAC secret."""
    signing_input = unsigned({"alg": "HS256", "typ": "JWT", "kid": signer.kid}, claims())
    mac = hmac.new(public_pem(signer), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(mac)}"


def test_a_token_of_the_trusted_key_names_its_caller():
    verifier = verifier_trusting(TRUSTED)
    admin = verifier.verify(TRUSTED.issue("ops", Role.ADMIN))
    student = verifier.verify_header("Bearer " + TRUSTED.issue(42, "student"))
    assert (admin.subject, admin.role, student.subject, student.role) == (
        "ops",
        Role.ADMIN,
        "42",
        Role.STUDENT,
    )
    admin.ensure_admin()
    admin.ensure_can_act_for(7)
    student.ensure_can_act_for(42)
    with pytest.raises(AuthError) as other:
        student.ensure_can_act_for(43)
    with pytest.raises(AuthError) as not_admin:
        student.ensure_admin()
    assert (other.value.status, not_admin.value.status) == (403, 403)


def test_any_key_of_the_set_is_trusted():
    second = Signer.generate()
    verifier = verifier_trusting(TRUSTED, second)
    assert verifier.verify(second.issue(5, "student")).subject == "5"
    assert verifier.verify(TRUSTED.issue(6, "student")).subject == "6"


def test_the_hs256_forgery_is_a_valid_hmac_of_the_public_key():
    """The forgery below is the real attack, not a malformed token: its MAC checks out
    against the public key's PEM, so a verifier that let the header choose HS256 would pass it."""
    token = hs256_with_public_key(TRUSTED)
    signing_input, _, signature = token.rpartition(".")
    mac = hmac.new(public_pem(TRUSTED), signing_input.encode(), hashlib.sha256).digest()
    assert hmac.compare_digest(b64url(mac), signature)
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT", "kid": TRUSTED.kid}


# Each forged token differs from a good one in one way, and is refused for that reason.
FORGED = {
    "another key (unknown kid)": (
        lambda: Signer.generate().issue("admin", "admin"),
        "invalid_token",
        "unknown key",
    ),
    "the trusted kid on another key's signature": (
        lambda: Signer(Signer.generate().key, TRUSTED.kid).issue("admin", "admin"),
        "invalid_token",
        "Signature verification failed",
    ),
    "wrong audience": (
        lambda: TRUSTED.issue("admin", "admin", audience="another-audience"),
        "invalid_token",
        "Audience doesn't match",
    ),
    "no audience": (
        lambda: jwt.encode(
            claims(aud=None), TRUSTED.key, algorithm="ES256", headers={"kid": TRUSTED.kid}
        ),
        "invalid_token",
        '"aud"',
    ),
    "wrong issuer": (
        lambda: Signer(TRUSTED.key, TRUSTED.kid, issuer="another-issuer").issue("admin", "admin"),
        "invalid_token",
        "Invalid issuer",
    ),
    "no issuer": (
        lambda: jwt.encode(
            claims(iss=None), TRUSTED.key, algorithm="ES256", headers={"kid": TRUSTED.kid}
        ),
        "invalid_token",
        '"iss"',
    ),
    "expired": (
        lambda: TRUSTED.issue("admin", "admin", ttl_seconds=-10),
        "token_expired",
        "expired",
    ),
    "alg none": (
        lambda: unsigned({"alg": "none", "typ": "JWT", "kid": TRUSTED.kid}, claims()) + ".",
        "invalid_token",
        "must be signed ES256",
    ),
    "HS256 keyed with the public key": (
        lambda: hs256_with_public_key(TRUSTED),
        "invalid_token",
        "must be signed ES256",
    ),
    "no kid": (
        lambda: jwt.encode(claims(), TRUSTED.key, algorithm="ES256"),
        "invalid_token",
        "name its key",
    ),
    "role root": (
        lambda: TRUSTED.issue("1", "root"),
        "invalid_token",
        "role must be 'student' or 'admin'",
    ),
    "no role": (
        lambda: jwt.encode(
            claims(role=None), TRUSTED.key, algorithm="ES256", headers={"kid": TRUSTED.kid}
        ),
        "invalid_token",
        '"role"',
    ),
    "no expiry": (
        lambda: jwt.encode(
            claims(exp=None), TRUSTED.key, algorithm="ES256", headers={"kid": TRUSTED.kid}
        ),
        "invalid_token",
        '"exp"',
    ),
}


@pytest.mark.parametrize("name", list(FORGED))
def test_forged_tokens_are_401_for_their_own_reason(name):
    make, code, reason = FORGED[name]
    with pytest.raises(AuthError) as refused:
        verifier_trusting(TRUSTED).verify_header(f"Bearer {make()}")
    assert (refused.value.status, refused.value.code) == (401, code)
    assert reason in refused.value.message


@pytest.mark.parametrize(
    ("header", "code"),
    [
        (None, "missing_token"),
        ("", "missing_token"),
        ("Token abc", "invalid_token"),
        ("Bearer ", "invalid_token"),
        ("Bearer not-a-jwt", "invalid_token"),
    ],
)
def test_malformed_headers_are_401(header, code):
    with pytest.raises(AuthError) as refused:
        verifier_trusting(TRUSTED).verify_header(header)
    assert (refused.value.status, refused.value.code) == (401, code)


class Identity:
    """The identity service's JWKS as a plain loader: serves ``signers``' public keys and
    counts how often it is asked (``fail`` makes it unreachable)."""

    def __init__(self, *signers: Signer) -> None:
        self.signers = list(signers)
        self.calls = 0
        self.fail = False

    def __call__(self) -> dict[str, Any]:
        self.calls += 1
        if self.fail:
            raise OSError("identity is away")
        return {"keys": [signer.jwk() for signer in self.signers]}


@pytest.fixture
def clock(monkeypatch):
    """The monotonic clock the key set reads, moved by hand."""
    now = [1_000.0]
    monkeypatch.setattr(auth.time, "monotonic", lambda: now[0])
    return now


def verifier_of(identity: Identity) -> TokenVerifier:
    return TokenVerifier(KeySet(identity, source="test"), DEFAULT_ISSUER, DEFAULT_AUDIENCE)


def refusal(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(AuthError) as refused:
        verifier.verify(token)
    assert refused.value.status == 401
    return refused.value.message


def test_an_unknown_kid_refetches_the_keys_at_most_every_refetch_interval(clock):
    old, new = Signer.generate(), Signer.generate()
    identity = Identity(old)
    verifier = verifier_of(identity)
    assert verifier.verify(old.issue(1, "student")).subject == "1"
    assert identity.calls == 1
    assert verifier.verify(old.issue(2, "student")).subject == "2"  # cached
    assert identity.calls == 1

    identity.signers.append(new)  # identity rotates in a new key
    clock[0] += REFETCH_AFTER_SECONDS - 0.1
    for _ in range(20):  # unknown kids within the interval ask identity nothing
        assert "unknown key" in refusal(verifier, new.issue(3, "student"))
        assert "unknown key" in refusal(verifier, Signer.generate().issue(3, "student"))
    assert identity.calls == 1

    clock[0] += 0.2  # past the interval: the unknown kid refetches, and the new key verifies
    assert verifier.verify(new.issue(3, "student")).subject == "3"
    assert identity.calls == 2

    garbage = [Signer.generate().issue(4, "student") for _ in range(20)]
    for token in garbage:  # a flood of made-up kids right after: no refetch
        assert "unknown key" in refusal(verifier, token)
    assert identity.calls == 2
    clock[0] += REFETCH_AFTER_SECONDS + 0.1
    for token in garbage:  # one refetch per interval, however many arrive
        assert "unknown key" in refusal(verifier, token)
    assert identity.calls == 3


def test_a_retired_key_stops_being_trusted_once_the_set_is_refetched(clock):
    old, new = Signer.generate(), Signer.generate()
    identity = Identity(old, new)
    verifier = verifier_of(identity)
    token = old.issue(1, "student")
    assert verifier.verify(token).subject == "1"
    identity.signers.remove(old)
    clock[0] += KEYS_LIFETIME_SECONDS - 1
    assert verifier.verify(token).subject == "1"  # still cached
    assert identity.calls == 1
    clock[0] += 2
    assert "unknown key" in refusal(verifier, token)
    assert verifier.verify(new.issue(2, "student")).subject == "2"
    assert identity.calls == 2


def test_keys_already_fetched_are_kept_while_identity_is_away(clock):
    signer = Signer.generate()
    identity = Identity(signer)
    verifier = verifier_of(identity)
    assert verifier.verify(signer.issue(1, "student")).subject == "1"
    identity.fail = True
    clock[0] += KEYS_LIFETIME_SECONDS + 1
    assert verifier.verify(signer.issue(2, "student")).subject == "2"  # the failed refetch
    assert identity.calls == 2
    assert verifier.verify(signer.issue(3, "student")).subject == "3"  # no retry at once
    assert identity.calls == 2
    clock[0] += REFETCH_AFTER_SECONDS + 0.1
    identity.fail = False
    assert verifier.verify(signer.issue(4, "student")).subject == "4"
    assert identity.calls == 3


def test_no_keys_configured_is_an_error_at_start():
    with pytest.raises(ValueError, match="JWT_JWKS_URL"):
        KeySet.from_settings(None, None, None)
