"""Command lines: ``identity-admin create --email E`` (the password on standard input) makes an
admin; ``identity-keys rotate`` adds a signing key (``ensure`` makes the first, ``list`` shows
them). Neither prints a password or a private key."""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import UTC, datetime

from servicekit.domain_errors import Conflict, InvalidInput

from identity_service.adapters.db import make_session_factory
from identity_service.domain.accounts import Role
from identity_service.keys import KeyRing
from identity_service.settings import get_settings
from identity_service.use_cases import accounts


def admin(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="identity-admin", description="Make an admin account.")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser("create", help="a new admin; the password is read from stdin")
    create.add_argument("--email", required=True)
    create.add_argument("--name", default="Organiser")
    args = parser.parse_args(argv)
    password = (
        getpass.getpass("Password: ") if sys.stdin.isatty() else sys.stdin.readline().rstrip("\n")
    )
    settings = get_settings()
    engine, sessions = make_session_factory(settings.database_url)
    new = accounts.NewAccount(args.email, password, args.name, Role.ADMIN, email_verified=True)
    try:
        with sessions() as session, session.begin():
            account = accounts.sign_up(session, new)
            account_id = account.id
    except InvalidInput as exc:
        parser.exit(2, "".join(f"{k}: {' '.join(v)}\n" for k, v in exc.fields.items()))
    except Conflict as exc:
        parser.exit(2, f"{exc.message}\n")
    finally:
        engine.dispose()
    print(f"admin {account_id} created for {new.email.strip().lower()}")


def keys(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="identity-keys", description="The signing keys.")
    parser.add_argument("command", choices=["rotate", "ensure", "list"])
    args = parser.parse_args(argv)
    settings = get_settings()
    ring = KeyRing(
        settings.keys_dir, settings.access_token_seconds, settings.key_publish_ahead_seconds
    )
    if args.command == "rotate":
        key = ring.rotate()
        print(f"new signing key {key.kid}; older keys stay published until their tokens expire")
    elif args.command == "ensure":
        print(f"signing key {ring.ensure().kid}")
    if args.command != "list":
        return
    published = {key.kid for key in ring.published()}
    for key in ring.all_keys():
        made = datetime.fromtimestamp(key.created, UTC).isoformat(timespec="seconds")
        state = "signing" if key.kid == ring.signing_key().kid else "published"
        print(f"{key.kid}  {made}  {state if key.kid in published else 'retired'}")
