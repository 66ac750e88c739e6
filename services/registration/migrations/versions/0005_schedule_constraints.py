"""schedule constraints: an organiser's "if condition then requirement" rules per program

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 10:00:00

A new table only: no existing row changes, and undoing it drops the rules alone.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from servicekit.db import UtcDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "schedule_constraints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("condition", sa.JSON(), nullable=True),
        sa.Column("requirement", sa.JSON(), nullable=False),
        sa.Column("created_at", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["programs.id"],
            name=op.f("fk_schedule_constraints_program_id_programs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedule_constraints")),
    )
    op.create_index(
        op.f("ix_schedule_constraints_program_id"),
        "schedule_constraints",
        ["program_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_schedule_constraints_program_id"), table_name="schedule_constraints")
    op.drop_table("schedule_constraints")
