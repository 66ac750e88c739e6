"""registration requests remember their decision partition, drained in commit order

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 07:30:00

Requests queued before this revision land in partition 0; the sweeper moves any queued row whose
partition no longer matches ``section_id % DECISION_PARTITIONS`` and rings it.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUEUED = "status = 'queued'"


def upgrade() -> None:
    with op.batch_alter_table("registration_requests", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("decision_partition", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.create_index(
            "ix_registration_requests_partition_queue",
            ["decision_partition", "created_at", "id"],
            unique=False,
            sqlite_where=sa.text(QUEUED),
            postgresql_where=sa.text(QUEUED),
        )


def downgrade() -> None:
    with op.batch_alter_table("registration_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_registration_requests_partition_queue")
        batch_op.drop_column("decision_partition")
