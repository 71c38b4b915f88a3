"""DMARC failure reports and SMTP TLS reports.

Revision ID: 0008
Revises: 0007
Created: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None

# Spelled out here, not imported from schema.py (see v0001).
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "dmarc_failure_reports",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("format", sa.String(8), nullable=False),
        sa.Column("feedback_type", sa.String(32), nullable=True),
        sa.Column("reported_domain", sa.String(), nullable=True),
        sa.Column("source_ip", sa.String(45), nullable=True),
        sa.Column("arrival_date", TIME, nullable=True),
        sa.Column("original_mail_from", sa.String(), nullable=True),
        sa.Column("original_rcpt_to", JSON, nullable=True),
        sa.Column("auth_failure", sa.String(32), nullable=True),
        sa.Column("delivery_result", sa.String(32), nullable=True),
        sa.Column("authentication_results", sa.Text(), nullable=True),
        sa.Column("dkim_domain", sa.String(), nullable=True),
        sa.Column("dkim_selector", sa.String(), nullable=True),
        sa.Column("identity_alignment", sa.String(), nullable=True),
        sa.Column("user_agent", sa.String(), nullable=True),
        sa.Column("reporter", sa.String(), nullable=True),
        sa.Column("report_subject", sa.Text(), nullable=True),
        sa.Column("sample_headers", JSON, nullable=True),
        sa.Column("fields", JSON, nullable=True),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("imported_at", TIME, nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="pk_dmarc_failure_reports"),
        sa.UniqueConstraint("fingerprint", name="uq_dmarc_failure_reports_fingerprint"),
    )
    op.create_index(
        "ix_dmarc_failure_reports_reported_domain_arrival_date",
        "dmarc_failure_reports",
        ["reported_domain", "arrival_date"],
    )
    op.create_table(
        "smtp_tls_reports",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("organization_name", sa.String(), nullable=False),
        sa.Column("report_id", sa.String(), nullable=False),
        sa.Column("begin_at", TIME, nullable=False),
        sa.Column("end_at", TIME, nullable=False),
        sa.Column("contact_info", sa.String(), nullable=True),
        sa.Column("successful_sessions", sa.BigInteger(), nullable=False),
        sa.Column("failed_sessions", sa.BigInteger(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("imported_at", TIME, nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="pk_smtp_tls_reports"),
        sa.UniqueConstraint(
            "organization_name",
            "report_id",
            name="uq_smtp_tls_reports_organization_name_report_id",
        ),
    )
    op.create_index("ix_smtp_tls_reports_begin_at", "smtp_tls_reports", ["begin_at"])
    op.create_table(
        "smtp_tls_policies",
        sa.Column("report_pk", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("policy_type", sa.String(16), nullable=False),
        sa.Column("policy_domain", sa.String(), nullable=False),
        sa.Column("successful_sessions", sa.BigInteger(), nullable=False),
        sa.Column("failed_sessions", sa.BigInteger(), nullable=False),
        sa.Column("policy_strings", JSON, nullable=True),
        sa.Column("mx_hosts", JSON, nullable=True),
        sa.Column("failures", JSON, nullable=True),
        sa.PrimaryKeyConstraint("report_pk", "seq", name="pk_smtp_tls_policies"),
        sa.ForeignKeyConstraint(
            ["report_pk"],
            ["smtp_tls_reports.id"],
            name="fk_smtp_tls_policies_report_pk_smtp_tls_reports",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_smtp_tls_policies_policy_domain", "smtp_tls_policies", ["policy_domain"])


def downgrade() -> None:
    for name in ("smtp_tls_policies", "smtp_tls_reports", "dmarc_failure_reports"):
        op.drop_table(name)
