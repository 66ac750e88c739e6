"""Bring the database to the newest schema: ``identity-migrate`` (reads DATABASE_URL)."""

from __future__ import annotations

from pathlib import Path

from servicekit.migrations import upgrade_to_head

from identity_service.settings import IdentitySettings

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "alembic.ini"


def upgrade(database_url: str) -> None:
    upgrade_to_head(ALEMBIC_INI, database_url)


def main() -> None:
    upgrade(IdentitySettings().database_url)


if __name__ == "__main__":
    main()
