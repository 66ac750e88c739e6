"""Tokens for tests and benchmarks, signed the way the identity service signs them (ES256, with
``kid``, ``iss`` and ``aud``) by a key that lives only in the test process: the services under
test trust it through ``JWT_JWKS`` (inline), as an offline deployment trusts a JWKS file.

``TEST_SIGNER`` is made once per process; a test that starts service processes passes
``TEST_SIGNER.jwks_json()`` in their environment (``service_env``).
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from servicekit.settings import DEFAULT_AUDIENCE, DEFAULT_ISSUER


class Signer:
    def __init__(
        self, key: ec.EllipticCurvePrivateKey, kid: str, issuer: str = DEFAULT_ISSUER
    ) -> None:
        self.key = key
        self.kid = kid
        self.issuer = issuer

    @classmethod
    def generate(cls, issuer: str = DEFAULT_ISSUER) -> Signer:
        return cls(ec.generate_private_key(ec.SECP256R1()), f"test-{uuid.uuid4().hex[:8]}", issuer)

    def jwk(self) -> dict[str, Any]:
        public: dict[str, Any] = json.loads(
            jwt.algorithms.ECAlgorithm.to_jwk(self.key.public_key())
        )
        return public | {"kid": self.kid, "alg": "ES256", "use": "sig"}

    def jwks_json(self) -> str:
        return json.dumps({"keys": [self.jwk()]})

    def issue(
        self,
        subject: str | int,
        role: str,
        ttl_seconds: int = 3600,
        *,
        audience: str = DEFAULT_AUDIENCE,
        **claims: Any,
    ) -> str:
        now = int(time.time())
        body = {
            "sub": str(subject),
            "role": str(role),
            "iss": self.issuer,
            "aud": audience,
            "iat": now,
            "exp": now + ttl_seconds,
        } | claims
        return jwt.encode(body, self.key, algorithm="ES256", headers={"kid": self.kid})


TEST_SIGNER = Signer.generate()


def issue_token(subject: str | int, role: str, ttl_seconds: int = 3600) -> str:
    """A token the services under test accept (they trust ``TEST_SIGNER``)."""
    return TEST_SIGNER.issue(subject, role, ttl_seconds)


def service_env() -> dict[str, str]:
    """What a service process started by a test needs to trust ``TEST_SIGNER``."""
    return {"JWT_JWKS": TEST_SIGNER.jwks_json(), "JWT_JWKS_URL": ""}
