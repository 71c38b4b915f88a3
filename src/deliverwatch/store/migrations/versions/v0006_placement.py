"""Inbox placement runs and per-seed results.

Revision ID: 0006
Revises: 0005
Created: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

# Spelled out here, not imported from schema.py (see v0001).
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "placement_runs",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("token", sa.String(64), nullable=False),
        sa.Column("started_at", TIME, nullable=False),
        sa.Column("finished_at", TIME, nullable=False),
        sa.Column("sender", sa.String(), nullable=False),
        sa.Column("subject", sa.String(), nullable=False),
        sa.Column("timed_out", sa.Boolean(), nullable=False),
        sa.Column("seeds", sa.Integer(), nullable=False),
        sa.Column("inbox", sa.Integer(), nullable=False),
        sa.Column("tab", sa.Integer(), nullable=False),
        sa.Column("spam", sa.Integer(), nullable=False),
        sa.Column("missing", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("error", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_placement_runs"),
        sa.UniqueConstraint("token", name="uq_placement_runs_token"),
    )
    op.create_index("ix_placement_runs_started_at", "placement_runs", ["started_at"])
    op.create_table(
        "placement_results",
        sa.Column("run_id", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(), nullable=False),
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("placement", sa.String(16), nullable=False),
        sa.Column("folder", sa.String(), nullable=True),
        sa.Column("tab", sa.String(32), nullable=True),
        sa.Column("seconds", sa.Float(), nullable=True),
        sa.Column("smtp_code", sa.Integer(), nullable=True),
        sa.Column("smtp_message", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("spam_score", sa.Float(), nullable=True),
        sa.Column("details", JSON, nullable=False),
        sa.PrimaryKeyConstraint("run_id", "seq", name="pk_placement_results"),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["placement_runs.id"],
            name="fk_placement_results_run_id_placement_runs",
            ondelete="CASCADE",
        ),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("placement_results")
    op.drop_index("ix_placement_runs_started_at", table_name="placement_runs")
    op.drop_table("placement_runs")
