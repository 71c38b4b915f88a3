"""Audit history and domain scores over time.

Revision ID: 0003
Revises: 0002
Created: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

# Spelled out here, not imported from schema.py (see v0001).
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "audits",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("domain", sa.String(), nullable=False),
        sa.Column("checked_at", TIME, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("grade", sa.String(2), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("warnings", sa.Integer(), nullable=False),
        sa.Column("infos", sa.Integer(), nullable=False),
        sa.Column("report", JSON, nullable=False),
        sa.Column("changes", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audits"),
    )
    op.create_index("ix_audits_domain_checked_at", "audits", ["domain", "checked_at"])
    op.create_index("ix_audits_checked_at", "audits", ["checked_at"])
    op.create_table(
        "scores",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("domain", sa.String(), nullable=False),
        sa.Column("at", TIME, nullable=False),
        sa.Column("deliverability", sa.Integer(), nullable=True),
        sa.Column("reputation", sa.Integer(), nullable=True),
        sa.Column("grade", sa.String(2), nullable=True),
        sa.Column("audit_id", sa.BigInteger(), nullable=True),
        sa.Column("parts", JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_scores"),
    )
    op.create_index("ix_scores_domain_at", "scores", ["domain", "at"])
    op.create_index("ix_scores_at", "scores", ["at"])


def downgrade() -> None:
    for name in ("scores", "audits"):
        op.drop_table(name)
