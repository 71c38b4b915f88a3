"""The store's tables (SQLAlchemy Core), the same on SQLite and PostgreSQL.

The migrations in ``migrations/versions`` create exactly these tables; a test compares the
migrated database with this metadata on both dialects, so the two cannot drift apart.

Conventions:

* Rollup buckets are integer Unix seconds (UTC) of the bucket's start: the arithmetic that
  assigns a bucket, folds minutes into days and groups by day is plain integer maths on both
  dialects, and range scans compare integers.
* Rollup dimensions are ``NOT NULL`` with ``''`` for "none" (an event without a sending
  domain, a non-bounce without a bounce class): NULLs are distinct in unique indexes, so a
  series with a NULL could be created twice.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    }
)

#: A 64-bit integer primary key that is SQLite's rowid alias there (a BIGINT column is not).
_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_Json = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
_Time = sa.DateTime(timezone=True)

#: Every normalized event, as received (kept ``retention.raw_events_days``). The only index is
#: the idempotency key: every secondary index roughly doubles the cost of storing an event, and
#: nothing reads raw events by time but retention, which scans once per compaction.
events = sa.Table(
    "events",
    metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    sa.Column("provider", sa.String(), nullable=False),
    sa.Column("event_id", sa.String(), nullable=False),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("occurred_at", _Time, nullable=False),
    sa.Column("recipient", sa.String(), nullable=False),
    sa.Column("recipient_domain", sa.String(), nullable=False),
    sa.Column("mailbox_provider", sa.String(), nullable=False),
    sa.Column("sending_domain", sa.String(), nullable=True),
    sa.Column("message_id", sa.String(), nullable=True),
    sa.Column("bounce_class", sa.String(16), nullable=True),
    sa.Column("smtp_status", sa.String(), nullable=True),
    sa.Column("diagnostic", sa.Text(), nullable=True),
    sa.Column("tags", _Json, nullable=True),
    sa.Column("campaign", sa.String(), nullable=True),
    sa.Column("ip", sa.String(45), nullable=True),
    sa.Column("raw", _Json, nullable=True),
    sa.Column("received_at", _Time, nullable=False, server_default=sa.func.now()),
    # The idempotency key: an ESP retrying a webhook, or a file imported twice.
    sa.UniqueConstraint("provider", "event_id"),
)

#: One row per combination of the rollup dimensions. Rollup rows refer to it by a small integer,
#: so their key is two integers: about three times cheaper to upsert than five strings and a
#: bucket, and much smaller on disk.
rollup_series = sa.Table(
    "rollup_series",
    metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    sa.Column("sending_domain", sa.String(), nullable=False),
    sa.Column("mailbox_provider", sa.String(), nullable=False),
    sa.Column("provider", sa.String(), nullable=False),
    sa.Column("event_type", sa.String(16), nullable=False),
    sa.Column("bounce_class", sa.String(16), nullable=False),
    # Leads with the domain: stats() for one domain finds its series through it.
    sa.UniqueConstraint(
        "sending_domain",
        "mailbox_provider",
        "provider",
        "event_type",
        "bounce_class",
        name="uq_rollup_series_dimensions",
    ),
)


def _rollup(name: str) -> sa.Table:
    """Event counts of one series per bucket. The key (series, bucket) is the access path of
    ``stats()`` (each series of the domain, a bucket range) and of compaction; a bucket index
    would double the cost of every upsert."""
    return sa.Table(
        name,
        metadata,
        sa.Column("series_id", sa.BigInteger(), sa.ForeignKey("rollup_series.id"), nullable=False),
        sa.Column("bucket", sa.BigInteger(), nullable=False),
        sa.Column("count", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("series_id", "bucket"),
        sqlite_with_rowid=False,
    )


rollup_minute = _rollup("rollup_minute")
rollup_hour = _rollup("rollup_hour")
rollup_day = _rollup("rollup_day")

#: The first open and the first click of each message: what makes unique opens and clicks
#: countable from rollups (see ``rollups.py``).
first_engagements = sa.Table(
    "first_engagements",
    metadata,
    sa.Column("provider", sa.String(), nullable=False),
    sa.Column("message_key", sa.String(), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("first_at", _Time, nullable=False),
    sa.Column("sending_domain", sa.String(), nullable=False),
    sa.Column("mailbox_provider", sa.String(), nullable=False),
    sa.PrimaryKeyConstraint("provider", "message_key", "kind"),
    sa.Index(None, "first_at"),
)

#: Recipients not to mail again, one row per (recipient, sending domain, reason).
suppressions = sa.Table(
    "suppressions",
    metadata,
    sa.Column("recipient", sa.String(), nullable=False),
    sa.Column("sending_domain", sa.String(), nullable=False),
    sa.Column("reason", sa.String(16), nullable=False),
    sa.Column("provider", sa.String(), nullable=True),
    sa.Column("event_id", sa.String(), nullable=True),
    sa.Column("first_at", _Time, nullable=False),
    sa.Column("last_at", _Time, nullable=False),
    sa.Column("events", sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint("recipient", "sending_domain", "reason"),
    sa.Index(None, "sending_domain", "reason"),
)

#: One-time webhook tokens already used (replay protection; ``store/tokens.py``): stored in the
#: transaction of the events they came with, dropped once expired.
webhook_tokens = sa.Table(
    "webhook_tokens",
    metadata,
    sa.Column("token", sa.String(), nullable=False),
    sa.Column("expires_at", _Time, nullable=False),
    sa.PrimaryKeyConstraint("token"),
    sa.Index(None, "expires_at"),
)

#: Small facts about the store's state: the horizons compaction has moved (Unix seconds).
store_meta = sa.Table(
    "store_meta",
    metadata,
    sa.Column("key", sa.String(64), nullable=False),
    sa.Column("value", sa.String(), nullable=False),
    sa.PrimaryKeyConstraint("key"),
)

ROLLUP_TABLES = (rollup_minute, rollup_hour, rollup_day)
