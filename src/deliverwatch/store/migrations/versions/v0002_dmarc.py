"""DMARC aggregate reports: reports, their records, and messages per day.

Revision ID: 0002
Revises: 0001
Created: 2025-01-15
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

# Spelled out here, not imported from schema.py (see v0001).
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
TIME = sa.DateTime(timezone=True)
ROLLUP_KEY = [
    "domain",
    "day",
    "source_ip",
    "reporter",
    "dmarc_pass",
    "dkim_aligned",
    "spf_aligned",
    "disposition",
]


def upgrade() -> None:
    op.create_table(
        "dmarc_reports",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("org_name", sa.String(), nullable=False),
        sa.Column("report_id", sa.String(), nullable=False),
        sa.Column("domain", sa.String(), nullable=False),
        sa.Column("begin_at", TIME, nullable=False),
        sa.Column("end_at", TIME, nullable=False),
        sa.Column("email", sa.String(), nullable=True),
        sa.Column("extra_contact_info", sa.String(), nullable=True),
        sa.Column("version", sa.String(), nullable=True),
        sa.Column("namespace", sa.String(), nullable=True),
        sa.Column("generator", sa.String(), nullable=True),
        sa.Column("errors", JSON, nullable=True),
        sa.Column("policy_p", sa.String(16), nullable=True),
        sa.Column("policy_sp", sa.String(16), nullable=True),
        sa.Column("policy_np", sa.String(16), nullable=True),
        sa.Column("policy_adkim", sa.String(8), nullable=True),
        sa.Column("policy_aspf", sa.String(8), nullable=True),
        sa.Column("policy_pct", sa.Integer(), nullable=True),
        sa.Column("policy_fo", sa.String(), nullable=True),
        sa.Column("policy_testing", sa.String(8), nullable=True),
        sa.Column("policy_discovery_method", sa.String(16), nullable=True),
        sa.Column("record_count", sa.BigInteger(), nullable=False),
        sa.Column("message_count", sa.BigInteger(), nullable=False),
        sa.Column("repairs", JSON, nullable=True),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("imported_at", TIME, nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="pk_dmarc_reports"),
        sa.UniqueConstraint("org_name", "report_id", name="uq_dmarc_reports_org_name_report_id"),
    )
    op.create_index("ix_dmarc_reports_domain_begin_at", "dmarc_reports", ["domain", "begin_at"])
    op.create_table(
        "dmarc_records",
        sa.Column("report_pk", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("source_ip", sa.String(45), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.Column("disposition", sa.String(16), nullable=False),
        sa.Column("dkim_alignment", sa.String(16), nullable=False),
        sa.Column("spf_alignment", sa.String(16), nullable=False),
        sa.Column("header_from", sa.String(), nullable=False),
        sa.Column("envelope_from", sa.String(), nullable=True),
        sa.Column("envelope_to", sa.String(), nullable=True),
        sa.Column("reasons", JSON, nullable=True),
        sa.Column("dkim_results", JSON, nullable=True),
        sa.Column("spf_results", JSON, nullable=True),
        sa.PrimaryKeyConstraint("report_pk", "seq", name="pk_dmarc_records"),
        sa.ForeignKeyConstraint(
            ["report_pk"],
            ["dmarc_reports.id"],
            name="fk_dmarc_records_report_pk_dmarc_reports",
            ondelete="CASCADE",
        ),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "dmarc_rollup_day",
        sa.Column("domain", sa.String(), nullable=False),
        sa.Column("day", sa.BigInteger(), nullable=False),
        sa.Column("source_ip", sa.String(45), nullable=False),
        sa.Column("reporter", sa.String(), nullable=False),
        sa.Column("dmarc_pass", sa.Boolean(), nullable=False),
        sa.Column("dkim_aligned", sa.Boolean(), nullable=False),
        sa.Column("spf_aligned", sa.Boolean(), nullable=False),
        sa.Column("disposition", sa.String(16), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(*ROLLUP_KEY, name="pk_dmarc_rollup_day"),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    for name in ("dmarc_rollup_day", "dmarc_records", "dmarc_reports"):
        op.drop_table(name)
