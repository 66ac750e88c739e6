"""request ids: the web request (or lottery event) that submitted a registration request

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29 11:30:00

One nullable column, ``registration_requests.correlation_id``: the submitting request's
``X-Request-ID``, carried by the outcome event decided later in a partition's batch. Existing
rows keep None; undoing it drops the column alone.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("registration_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("correlation_id", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("registration_requests", schema=None) as batch_op:
        batch_op.drop_column("correlation_id")
