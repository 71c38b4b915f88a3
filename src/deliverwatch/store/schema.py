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

# -- DMARC reports ----------------------------------------------------------------------------

#: One row per aggregate report. The reporter's (org_name, report_id) is unique: importing a
#: report again (a mailbox read twice, a file dropped twice) finds it and adds nothing. The
#: original date range is kept; the day rollup below spreads longer reports over days.
dmarc_reports = sa.Table(
    "dmarc_reports",
    metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    sa.Column("org_name", sa.String(), nullable=False),
    sa.Column("report_id", sa.String(), nullable=False),
    sa.Column("domain", sa.String(), nullable=False),
    sa.Column("begin_at", _Time, nullable=False),
    sa.Column("end_at", _Time, nullable=False),
    sa.Column("email", sa.String(), nullable=True),
    sa.Column("extra_contact_info", sa.String(), nullable=True),
    sa.Column("version", sa.String(), nullable=True),
    sa.Column("namespace", sa.String(), nullable=True),
    sa.Column("generator", sa.String(), nullable=True),
    sa.Column("errors", _Json, nullable=True),
    # policy_published, as the receiver found it
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
    sa.Column("repairs", _Json, nullable=True),
    sa.Column("source", sa.String(), nullable=False),
    sa.Column("imported_at", _Time, nullable=False, server_default=sa.func.now()),
    sa.UniqueConstraint("org_name", "report_id"),
    sa.Index(None, "domain", "begin_at"),
)

#: The records of each report, in report order. Keyed by (report, position) without a rowid
#: on SQLite: rows arrive in key order, so storing them is an append.
dmarc_records = sa.Table(
    "dmarc_records",
    metadata,
    sa.Column(
        "report_pk",
        sa.BigInteger(),
        sa.ForeignKey("dmarc_reports.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("seq", sa.Integer(), nullable=False),
    sa.Column("source_ip", sa.String(45), nullable=False),
    sa.Column("count", sa.BigInteger(), nullable=False),
    sa.Column("disposition", sa.String(16), nullable=False),
    # policy_evaluated: did an aligned DKIM signature / SPF identity pass ("pass"/"fail")
    sa.Column("dkim_alignment", sa.String(16), nullable=False),
    sa.Column("spf_alignment", sa.String(16), nullable=False),
    sa.Column("header_from", sa.String(), nullable=False),
    sa.Column("envelope_from", sa.String(), nullable=True),
    sa.Column("envelope_to", sa.String(), nullable=True),
    sa.Column("reasons", _Json, nullable=True),
    sa.Column("dkim_results", _Json, nullable=True),
    sa.Column("spf_results", _Json, nullable=True),
    sa.PrimaryKeyConstraint("report_pk", "seq"),
    sqlite_with_rowid=False,
)

#: Messages per UTC day (Unix seconds of midnight), header-From domain, source IP, reporter
#: and outcome: what ``dmarc summary`` reads. A multi-day report is spread over its days.
dmarc_rollup_day = sa.Table(
    "dmarc_rollup_day",
    metadata,
    sa.Column("domain", sa.String(), nullable=False),
    sa.Column("day", sa.BigInteger(), nullable=False),
    sa.Column("source_ip", sa.String(45), nullable=False),
    sa.Column("reporter", sa.String(), nullable=False),
    sa.Column("dmarc_pass", sa.Boolean(), nullable=False),
    sa.Column("dkim_aligned", sa.Boolean(), nullable=False),
    sa.Column("spf_aligned", sa.Boolean(), nullable=False),
    sa.Column("disposition", sa.String(16), nullable=False),
    sa.Column("count", sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint(
        "domain",
        "day",
        "source_ip",
        "reporter",
        "dmarc_pass",
        "dkim_aligned",
        "spf_aligned",
        "disposition",
    ),
    sqlite_with_rowid=False,
)
