"""Print a development token: ``make token ROLE=admin`` or ``make token ROLE=student SUB=42``.

Signed with the identity service's development key under ``var/identity-keys`` (made by
``make up``, or here when missing), exactly as identity signs: the running ``make up`` stack
accepts it, and nothing else can mint one without that file.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from identity_service.keys import KeyRing
from servicekit.auth import Role
from servicekit.settings import DEFAULT_AUDIENCE, DEFAULT_ISSUER

ROOT = Path(__file__).resolve().parents[4]


def dev_token(var_dir: Path, role: str, sub: str, ttl_seconds: int = 3600) -> str:
    """A token signed with the development key of a ``make up`` stack whose VAR_DIR is
    ``var_dir``."""
    ring = KeyRing(Path(var_dir) / "identity-keys")
    ring.ensure()
    now = int(time.time())
    return ring.sign(
        {
            "iss": os.environ.get("JWT_ISSUER", DEFAULT_ISSUER),
            "aud": os.environ.get("JWT_AUDIENCE", DEFAULT_AUDIENCE),
            "sub": str(sub),
            "role": str(Role(role)),
            "iat": now,
            "exp": now + ttl_seconds,
        }
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--role", choices=[r.value for r in Role], default="admin")
    parser.add_argument("--sub", default="admin", help="the student id for students")
    parser.add_argument("--ttl", type=int, default=24 * 3600, help="lifetime in seconds")
    args = parser.parse_args(argv)
    if args.role == "student" and not args.sub.isdigit():
        parser.error("a student token needs SUB=<student id>, for example SUB=42")
    var_dir = Path(os.environ.get("VAR_DIR", ROOT / "var"))
    print(dev_token(var_dir, args.role, args.sub, args.ttl))


if __name__ == "__main__":
    main()
