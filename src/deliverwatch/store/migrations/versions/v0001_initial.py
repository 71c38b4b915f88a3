"""The first schema: events, rollup series and their minute/hour/day counts, first
engagements, suppressions, webhook tokens, store meta.

Revision ID: 0001
Revises:
Created: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

# Spelled out here, not imported from schema.py: a revision must keep creating what it created
# when it was written, whatever schema.py becomes later.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
TIME = sa.DateTime(timezone=True)
SERIES = ["sending_domain", "mailbox_provider", "provider", "event_type", "bounce_class"]


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("event_id", sa.String(), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("occurred_at", TIME, nullable=False),
        sa.Column("recipient", sa.String(), nullable=False),
        sa.Column("recipient_domain", sa.String(), nullable=False),
        sa.Column("mailbox_provider", sa.String(), nullable=False),
        sa.Column("sending_domain", sa.String(), nullable=True),
        sa.Column("message_id", sa.String(), nullable=True),
        sa.Column("bounce_class", sa.String(16), nullable=True),
        sa.Column("smtp_status", sa.String(), nullable=True),
        sa.Column("diagnostic", sa.Text(), nullable=True),
        sa.Column("tags", JSON, nullable=True),
        sa.Column("campaign", sa.String(), nullable=True),
        sa.Column("ip", sa.String(45), nullable=True),
        sa.Column("raw", JSON, nullable=True),
        sa.Column("received_at", TIME, nullable=False, server_default=sa.func.now()),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.UniqueConstraint("provider", "event_id", name="uq_events_provider_event_id"),
    )
    op.create_table(
        "rollup_series",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("sending_domain", sa.String(), nullable=False),
        sa.Column("mailbox_provider", sa.String(), nullable=False),
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("event_type", sa.String(16), nullable=False),
        sa.Column("bounce_class", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_rollup_series"),
        sa.UniqueConstraint(*SERIES, name="uq_rollup_series_dimensions"),
    )
    for name in ("rollup_minute", "rollup_hour", "rollup_day"):
        op.create_table(
            name,
            sa.Column("series_id", sa.BigInteger(), nullable=False),
            sa.Column("bucket", sa.BigInteger(), nullable=False),
            sa.Column("count", sa.BigInteger(), nullable=False),
            sa.PrimaryKeyConstraint("series_id", "bucket", name=f"pk_{name}"),
            sa.ForeignKeyConstraint(
                ["series_id"], ["rollup_series.id"], name=f"fk_{name}_series_id_rollup_series"
            ),
            sqlite_with_rowid=False,
        )
    op.create_table(
        "first_engagements",
        sa.Column("provider", sa.String(), nullable=False),
        sa.Column("message_key", sa.String(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("first_at", TIME, nullable=False),
        sa.Column("sending_domain", sa.String(), nullable=False),
        sa.Column("mailbox_provider", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("provider", "message_key", "kind", name="pk_first_engagements"),
    )
    op.create_index("ix_first_engagements_first_at", "first_engagements", ["first_at"])
    op.create_table(
        "suppressions",
        sa.Column("recipient", sa.String(), nullable=False),
        sa.Column("sending_domain", sa.String(), nullable=False),
        sa.Column("reason", sa.String(16), nullable=False),
        sa.Column("provider", sa.String(), nullable=True),
        sa.Column("event_id", sa.String(), nullable=True),
        sa.Column("first_at", TIME, nullable=False),
        sa.Column("last_at", TIME, nullable=False),
        sa.Column("events", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("recipient", "sending_domain", "reason", name="pk_suppressions"),
    )
    op.create_index(
        "ix_suppressions_sending_domain_reason", "suppressions", ["sending_domain", "reason"]
    )
    op.create_table(
        "webhook_tokens",
        sa.Column("token", sa.String(), nullable=False),
        sa.Column("expires_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("token", name="pk_webhook_tokens"),
    )
    op.create_index("ix_webhook_tokens_expires_at", "webhook_tokens", ["expires_at"])
    op.create_table(
        "store_meta",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_store_meta"),
    )


def downgrade() -> None:
    for name in (
        "store_meta",
        "webhook_tokens",
        "suppressions",
        "first_engagements",
        "rollup_day",
        "rollup_hour",
        "rollup_minute",
        "rollup_series",
        "events",
    ):
        op.drop_table(name)
