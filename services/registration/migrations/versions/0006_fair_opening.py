"""organiser rules: a waitlist limit per timeslot, and the fair opening's waiting room

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 10:00:00

Two program columns (``waitlist_limit_per_timeslot`` defaults to 1 for existing programs;
``opening_window_seconds`` is nullable: no waiting room) and the ``openings`` table, one row per
program whose waiting room was released: the seed drawn and the order of the students it gave.
No request row changes; undoing it drops the columns and the table alone.
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from servicekit.db import UtcDateTime

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("programs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("opening_window_seconds", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "waitlist_limit_per_timeslot", sa.Integer(), server_default="1", nullable=False
            )
        )
    op.create_table(
        "openings",
        sa.Column("program_id", sa.Integer(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=True),
        sa.Column("released_at", UtcDateTime(), nullable=True),
        sa.Column("student_order", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"], ["programs.id"], name=op.f("fk_openings_program_id_programs")
        ),
        sa.PrimaryKeyConstraint("program_id", name=op.f("pk_openings")),
    )


def downgrade() -> None:
    op.drop_table("openings")
    # Not in batch mode: SQLite (3.35+) drops a plain column in place, where a batch would
    # recreate ``programs``, which every other table references.
    op.drop_column("programs", "waitlist_limit_per_timeslot")
    op.drop_column("programs", "opening_window_seconds")
