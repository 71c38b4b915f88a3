"""Raw event payloads stored per batch, compressed, instead of per event.

Revision ID: 0009
Revises: 0008
Created: 2026-11-28

Rows stored before keep their ``events.raw``; new rows point into ``event_raw_blocks``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None

# Spelled out here, not imported from schema.py (see v0001).
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "event_raw_blocks",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("codec", sa.String(16), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("last_at", TIME, nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("stored_at", TIME, nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="pk_event_raw_blocks"),
    )
    # Nullable columns without defaults: SQLite adds them without rebuilding the table.
    op.add_column("events", sa.Column("raw_block", sa.BigInteger(), nullable=True))
    op.add_column("events", sa.Column("raw_index", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("events", "raw_index")
    op.drop_column("events", "raw_block")
    op.drop_table("event_raw_blocks")
