"""The signing keys: private EC P-256 keys, one PEM file each in ``KEYS_DIR``, named
``<created, unix nanoseconds>-<kid>.pem`` (so the names sort oldest first).

- A new key is published ``publish_ahead`` seconds (10) before it signs anything: a service
  refetches the JWKS on an unknown ``kid`` at most every 5 s, so by the time a token names the
  new key every service has it or may fetch it. The newest key older than that signs every new
  token (ES256, its ``kid`` in the header); a lone first key signs at once (nobody has cached
  anything yet).
- The JWKS publishes the keys to come, the signing key, and every older key whose tokens may
  still be valid: one that stopped signing less than ``ACCESS_TOKEN_SECONDS`` (plus a minute of
  clock skew) ago.
- ``identity-keys rotate`` adds a key: tokens signed before stay valid until they expire. A
  key past that grace is retired: left out of the JWKS, and deleted by the next rotation.

Only this service reads this directory. ``make token`` signs with the same development key
under ``var/`` so that a token it prints is one this service could have issued.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

ALGORITHM = "ES256"
SKEW_SECONDS = 60


@dataclass(frozen=True)
class SigningKey:
    kid: str
    created_ns: int
    private: ec.EllipticCurvePrivateKey

    @property
    def created(self) -> float:
        """Unix seconds."""
        return self.created_ns / 1e9

    @property
    def filename(self) -> str:
        return f"{self.created_ns:020d}-{self.kid}.pem"

    def jwk(self) -> dict[str, Any]:
        public: dict[str, Any] = json.loads(
            jwt.algorithms.ECAlgorithm.to_jwk(self.private.public_key())
        )
        return public | {"kid": self.kid, "alg": ALGORITHM, "use": "sig"}


class KeyRing:
    def __init__(
        self, directory: str | Path, access_token_seconds: int = 900, publish_ahead: float = 10.0
    ) -> None:
        self.directory = Path(directory)
        self.grace = access_token_seconds + SKEW_SECONDS
        self.publish_ahead = publish_ahead
        self._cache: tuple[tuple[str, ...], list[SigningKey]] | None = None

    def all_keys(self) -> list[SigningKey]:
        """Every key on disk, newest first (read again only when the directory changed)."""
        names = tuple(sorted(p.name for p in self.directory.glob("*.pem")))
        if self._cache is None or self._cache[0] != names:
            self._cache = (names, [self._load(self.directory / n) for n in reversed(names)])
        return list(self._cache[1])

    def signing_key(self, now: float | None = None) -> SigningKey:
        """The newest key published at least ``publish_ahead`` ago (else the oldest key)."""
        now = time.time() if now is None else now
        keys = self.all_keys()
        if not keys:
            raise RuntimeError(f"no signing key in {self.directory}; run `identity-keys ensure`")
        return next((k for k in keys if now - k.created >= self.publish_ahead), keys[-1])

    def published(self, now: float | None = None) -> list[SigningKey]:
        """The keys to come, the signing key, and the older ones that stopped signing less than
        the grace ago (a key stops when its successor starts, ``publish_ahead`` after it was
        made)."""
        now = time.time() if now is None else now
        keys = self.all_keys()
        signing = self.signing_key(now)
        kept = []
        for index, key in enumerate(keys):
            if key.created >= signing.created:
                kept.append(key)
                continue
            stopped = keys[index - 1].created + self.publish_ahead
            if now - stopped < self.grace:
                kept.append(key)
        return kept

    def jwks(self) -> dict[str, Any]:
        return {"keys": [key.jwk() for key in self.published()]}

    def sign(self, claims: dict[str, Any]) -> str:
        key = self.signing_key()
        return jwt.encode(claims, key.private, algorithm=ALGORITHM, headers={"kid": key.kid})

    def ensure(self) -> SigningKey:
        """The signing key, made when there is none (a first start)."""
        keys = self.all_keys()
        return keys[0] if keys else self.rotate()

    def rotate(self) -> SigningKey:
        """Add a new signing key; delete the keys already retired."""
        self.directory.mkdir(parents=True, exist_ok=True)
        kept = {key.kid for key in self.published()} if self.all_keys() else set()
        retired = [key for key in self.all_keys() if key.kid not in kept]
        key = SigningKey(
            uuid.uuid4().hex[:16], time.time_ns(), ec.generate_private_key(ec.SECP256R1())
        )
        pem = key.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        path = self.directory / key.filename
        temporary = path.with_suffix(".tmp")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(pem)
        temporary.replace(path)
        for old in retired:
            (self.directory / old.filename).unlink(missing_ok=True)
        return key

    @staticmethod
    def _load(path: Path) -> SigningKey:
        created, _, kid = path.stem.partition("-")
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(private, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{path} is not an EC private key")
        return SigningKey(kid, int(created), private)
