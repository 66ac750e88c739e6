"""Print a development token: ``make token ROLE=admin`` or ``make token ROLE=student SUB=42``."""

from __future__ import annotations

import argparse

from servicekit.auth import Role, issue_token
from servicekit.settings import ServiceSettings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--role", choices=[r.value for r in Role], default="admin")
    parser.add_argument("--sub", default="admin", help="the student id for students")
    parser.add_argument("--ttl", type=int, default=24 * 3600, help="lifetime in seconds")
    args = parser.parse_args(argv)
    if args.role == "student" and not args.sub.isdigit():
        parser.error("a student token needs SUB=<student id>, for example SUB=42")
    print(issue_token(ServiceSettings().jwt_secret, args.sub, args.role, args.ttl))


if __name__ == "__main__":
    main()
