"""registration requests name their origin and the start date they give a registration

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02 10:00:00

``origin`` is set on requests an admin process placed for a student (a lottery run's commit or
revert); ``starts_at`` is the start date such a request's registration gets, or the one its drop
expires. Both are nullable: adding them rewrites no row, and every request stored before is a
student's own.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from servicekit.db import UtcDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("registration_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("origin", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("starts_at", UtcDateTime(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("registration_requests", schema=None) as batch_op:
        batch_op.drop_column("starts_at")
        batch_op.drop_column("origin")
