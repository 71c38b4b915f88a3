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
    # Before migration 0009 the payload itself; since then NULL, and the payload is item
    # ``raw_index`` of the block ``raw_block`` (see event_raw_blocks).
    sa.Column("raw", _Json, nullable=True),
    sa.Column("received_at", _Time, nullable=False, server_default=sa.func.now()),
    sa.Column("raw_block", sa.BigInteger(), nullable=True),
    sa.Column("raw_index", sa.Integer(), nullable=True),
    # The idempotency key: an ESP retrying a webhook, or a file imported twice.
    sa.UniqueConstraint("provider", "event_id"),
)

#: The raw payloads of the events of one stored batch, as one compressed JSON array (item
#: ``events.raw_index`` is the payload of that event). A row per batch instead of a JSON value
#: per event: the payload was most of the bytes of an event row and half the cost of storing
#: it; compressed together they take a seventh of the space (``codec``: ``json+zstd``, or
#: ``json+zlib`` for early blocks; see ``rawblocks``). No foreign key from ``events``
#: (checking it would cost every insert); retention deletes a block with its newest event.
event_raw_blocks = sa.Table(
    "event_raw_blocks",
    metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    sa.Column("codec", sa.String(16), nullable=False),
    sa.Column("items", sa.Integer(), nullable=False),
    sa.Column("last_at", _Time, nullable=False),
    sa.Column("data", sa.LargeBinary(), nullable=False),
    sa.Column("stored_at", _Time, nullable=False, server_default=sa.func.now()),
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


# -- Audit history and scores (migration 0003) -------------------------------------------------

#: One row per audit of a monitored domain (``history/``): the report as ``check --format json``
#: gives it, and what changed since the previous audit. The summary columns (status, score,
#: finding counts) serve overview pages without reading the JSON.
audits = sa.Table(
    "audits",
    metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    sa.Column("domain", sa.String(), nullable=False),
    sa.Column("checked_at", _Time, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("score", sa.Integer(), nullable=False),
    sa.Column("grade", sa.String(2), nullable=False),
    sa.Column("errors", sa.Integer(), nullable=False),
    sa.Column("warnings", sa.Integer(), nullable=False),
    sa.Column("infos", sa.Integer(), nullable=False),
    sa.Column("report", _Json, nullable=False),
    sa.Column("changes", _Json, nullable=False),
    # History of one domain, newest first; the latest audit of every domain.
    sa.Index(None, "domain", "checked_at"),
    # Retention deletes by age across domains.
    sa.Index(None, "checked_at"),
)

#: A domain's deliverability and reputation scores over time, with every part's contribution.
scores = sa.Table(
    "scores",
    metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    sa.Column("domain", sa.String(), nullable=False),
    sa.Column("at", _Time, nullable=False),
    sa.Column("deliverability", sa.Integer(), nullable=True),
    sa.Column("reputation", sa.Integer(), nullable=True),
    sa.Column("grade", sa.String(2), nullable=True),
    sa.Column("audit_id", sa.BigInteger(), nullable=True),
    sa.Column("parts", _Json, nullable=False),
    sa.Index(None, "domain", "at"),
    sa.Index(None, "at"),
)


# -- Alerts (migration 0004) -------------------------------------------------------------------

#: One row per alert: a problem of one rule and subject (domain, mailbox provider, finding…)
#: from its first pending evaluation to its resolution. ``open_key`` is the fingerprint while
#: the alert is open and NULL once resolved: its unique index makes "one open alert per
#: fingerprint" a database fact on both dialects (NULLs are distinct), while resolved alerts
#: of the same fingerprint stay as history.
alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    sa.Column("fingerprint", sa.String(32), nullable=False),
    sa.Column("open_key", sa.String(32), nullable=True),
    sa.Column("rule", sa.String(), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("domain", sa.String(), nullable=False),
    sa.Column("provider", sa.String(), nullable=False),
    sa.Column("subject", sa.String(), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("summary", sa.Text(), nullable=False),
    sa.Column("evidence", _Json, nullable=True),
    sa.Column("details", _Json, nullable=True),
    sa.Column("started_at", _Time, nullable=False),
    sa.Column("fired_at", _Time, nullable=True),
    sa.Column("resolved_at", _Time, nullable=True),
    sa.Column("resolved_by", sa.String(), nullable=True),
    sa.Column("acknowledged_at", _Time, nullable=True),
    sa.Column("acknowledged_by", sa.String(), nullable=True),
    sa.Column("last_evaluated_at", _Time, nullable=False),
    sa.Column("last_active_at", _Time, nullable=True),
    sa.Column("last_notified_at", _Time, nullable=True),
    sa.Column("escalated_at", _Time, nullable=True),
    sa.Column("silenced", sa.Boolean(), nullable=False),
    sa.Column("clear_count", sa.Integer(), nullable=False),
    sa.Column("flap_count", sa.Integer(), nullable=False),
    sa.UniqueConstraint("open_key"),
    sa.Index(None, "fingerprint", "resolved_at"),
    sa.Index(None, "state", "domain"),
)

#: What happened to an alert, oldest first: state changes, acknowledgements, escalations,
#: notifications scheduled or held back by a silence.
alert_transitions = sa.Table(
    "alert_transitions",
    metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    sa.Column(
        "alert_id",
        sa.BigInteger(),
        sa.ForeignKey("alerts.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("at", _Time, nullable=False),
    sa.Column("event", sa.String(32), nullable=False),
    sa.Column("from_state", sa.String(16), nullable=True),
    sa.Column("to_state", sa.String(16), nullable=True),
    sa.Column("actor", sa.String(), nullable=True),
    sa.Column("note", sa.Text(), nullable=True),
    sa.Index(None, "alert_id", "at"),
)

#: Silences: matchers (label → value or shell pattern) and an expiry. ``removed_at`` is set
#: when a silence is lifted early; silences are kept for the record.
alert_silences = sa.Table(
    "alert_silences",
    metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    sa.Column("matchers", _Json, nullable=False),
    sa.Column("starts_at", _Time, nullable=False),
    sa.Column("ends_at", _Time, nullable=False),
    sa.Column("created_by", sa.String(), nullable=False),
    sa.Column("comment", sa.Text(), nullable=False),
    sa.Column("created_at", _Time, nullable=False),
    sa.Column("removed_at", _Time, nullable=True),
    sa.Index(None, "ends_at"),
)

#: Notifications an alert change calls for that are not in the outbox yet: waiting for their
#: route's group_wait, for quiet hours to end, or (acknowledged/resolved by hand, which has no
#: routes at hand) for the next evaluation to route them. ``route`` is NULL until routed.
alert_notices = sa.Table(
    "alert_notices",
    metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    sa.Column(
        "alert_id",
        sa.BigInteger(),
        sa.ForeignKey("alerts.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("route", sa.String(), nullable=True),
    sa.Column("created_at", _Time, nullable=False),
    sa.Column("due_at", _Time, nullable=True),
    sa.Index(None, "alert_id"),
)


# -- Notification outbox (migration 0005) ------------------------------------------------------

#: One row per (notification, channel), written in the transaction of the alert change that
#: caused it (``notify/outbox.py``). ``state``: pending → sending (leased to one sender until
#: ``lease_until``) → delivered | failed; a failed attempt goes back to pending with a later
#: ``next_attempt_at``. The unique pair makes enqueueing the same notification twice a no-op.
notification_outbox = sa.Table(
    "notification_outbox",
    metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    sa.Column("notification_id", sa.String(64), nullable=False),
    sa.Column("channel", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("fingerprint", sa.String(), nullable=False),
    sa.Column("domain", sa.String(), nullable=True),
    sa.Column("title", sa.String(), nullable=False),
    sa.Column("payload", _Json, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer(), nullable=False),
    sa.Column("created_at", _Time, nullable=False),
    sa.Column("next_attempt_at", _Time, nullable=False),
    sa.Column("lease_owner", sa.String(64), nullable=True),
    sa.Column("lease_until", _Time, nullable=True),
    sa.Column("last_attempt_at", _Time, nullable=True),
    sa.Column("delivered_at", _Time, nullable=True),
    sa.Column("last_error", sa.Text(), nullable=True),
    sa.UniqueConstraint("notification_id", "channel"),
    # The sender's access path: a channel's unfinished rows in creation order.
    sa.Index(None, "state", "channel", "created_at"),
)


# -- Inbox placement (migration 0006) ----------------------------------------------------------

#: One row per placement run (``placement/``): when, what was sent, and the counts per
#: placement, so history and the alert rule read rates without the per-seed rows.
placement_runs = sa.Table(
    "placement_runs",
    metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    sa.Column("token", sa.String(64), nullable=False),
    sa.Column("started_at", _Time, nullable=False),
    sa.Column("finished_at", _Time, nullable=False),
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
    sa.UniqueConstraint("token"),
    # History newest first, and "since" windows.
    sa.Index(None, "started_at"),
)

#: One row per seed of a run, in config order.
placement_results = sa.Table(
    "placement_results",
    metadata,
    sa.Column(
        "run_id",
        sa.BigInteger(),
        sa.ForeignKey("placement_runs.id", ondelete="CASCADE"),
        nullable=False,
    ),
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
    # verdicts, raw Authentication-Results values and spam headers
    sa.Column("details", _Json, nullable=False),
    sa.PrimaryKeyConstraint("run_id", "seq"),
    sqlite_with_rowid=False,
)


# -- Service: API tokens, scheduler (migration 0007) -------------------------------------------

#: Bearer tokens for the HTTP API and the dashboard. Only a SHA-256 of each token is kept: the
#: tokens are 256-bit random strings, so a plain hash is as good as a slow one, and lookups by
#: hash need no scan. ``prefix`` (the first characters) lets people tell tokens apart.
api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    sa.Column("name", sa.String(64), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False),
    sa.Column("prefix", sa.String(16), nullable=False),
    sa.Column("read_only", sa.Boolean(), nullable=False),
    sa.Column("created_at", _Time, nullable=False),
    sa.Column("last_used_at", _Time, nullable=True),
    sa.Column("revoked_at", _Time, nullable=True),
    sa.UniqueConstraint("token_hash"),
    sa.UniqueConstraint("name"),
)

#: One row per scheduled job and tick. The unique key is what makes a job run once per tick
#: across instances and leader changes: a run starts by inserting its row.
job_runs = sa.Table(
    "job_runs",
    metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    sa.Column("job", sa.String(64), nullable=False),
    sa.Column("tick", sa.BigInteger(), nullable=False),
    sa.Column("instance", sa.String(64), nullable=False),
    sa.Column("started_at", _Time, nullable=False),
    sa.Column("finished_at", _Time, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("detail", _Json, nullable=True),
    sa.UniqueConstraint("job", "tick"),
)

#: The scheduler's leader lease on SQLite (PostgreSQL uses an advisory lock instead).
scheduler_lease = sa.Table(
    "scheduler_lease",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("holder", sa.String(64), nullable=False),
    sa.Column("expires_at", sa.BigInteger(), nullable=False),
)


# -- DMARC failure and SMTP TLS reports (migration 0008) ---------------------------------------

#: One row per DMARC failure (forensic) report, unique on a hash of what it says
#: (``dmarc.failure.fingerprint``: the feedback fields, the reporter and the original's kept
#: headers), so the same report imported twice, or delivered with other line endings, is
#: stored once. The original message's body is never stored; of its headers only
#: ``failure.SAMPLE_HEADERS`` are kept (``sample_headers``).
dmarc_failure_reports = sa.Table(
    "dmarc_failure_reports",
    metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("format", sa.String(8), nullable=False),
    sa.Column("feedback_type", sa.String(32), nullable=True),
    sa.Column("reported_domain", sa.String(), nullable=True),
    sa.Column("source_ip", sa.String(45), nullable=True),
    sa.Column("arrival_date", _Time, nullable=True),
    sa.Column("original_mail_from", sa.String(), nullable=True),
    sa.Column("original_rcpt_to", _Json, nullable=True),
    sa.Column("auth_failure", sa.String(32), nullable=True),
    sa.Column("delivery_result", sa.String(32), nullable=True),
    sa.Column("authentication_results", sa.Text(), nullable=True),
    sa.Column("dkim_domain", sa.String(), nullable=True),
    sa.Column("dkim_selector", sa.String(), nullable=True),
    sa.Column("identity_alignment", sa.String(), nullable=True),
    sa.Column("user_agent", sa.String(), nullable=True),
    sa.Column("reporter", sa.String(), nullable=True),
    sa.Column("report_subject", sa.Text(), nullable=True),
    sa.Column("sample_headers", _Json, nullable=True),
    sa.Column("fields", _Json, nullable=True),
    sa.Column("source", sa.String(), nullable=False),
    sa.Column("imported_at", _Time, nullable=False, server_default=sa.func.now()),
    sa.UniqueConstraint("fingerprint"),
    sa.Index(None, "reported_domain", "arrival_date"),
)

#: One row per SMTP TLS report (RFC 8460), unique on the reporter's (organization_name,
#: report_id) like aggregate reports; the session totals are the sums over its policies.
smtp_tls_reports = sa.Table(
    "smtp_tls_reports",
    metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    sa.Column("organization_name", sa.String(), nullable=False),
    sa.Column("report_id", sa.String(), nullable=False),
    sa.Column("begin_at", _Time, nullable=False),
    sa.Column("end_at", _Time, nullable=False),
    sa.Column("contact_info", sa.String(), nullable=True),
    sa.Column("successful_sessions", sa.BigInteger(), nullable=False),
    sa.Column("failed_sessions", sa.BigInteger(), nullable=False),
    sa.Column("source", sa.String(), nullable=False),
    sa.Column("imported_at", _Time, nullable=False, server_default=sa.func.now()),
    sa.UniqueConstraint("organization_name", "report_id"),
    sa.Index(None, "begin_at"),
)

#: The policies of each SMTP TLS report, in report order, with their failure details (JSON).
smtp_tls_policies = sa.Table(
    "smtp_tls_policies",
    metadata,
    sa.Column(
        "report_pk",
        sa.BigInteger(),
        sa.ForeignKey("smtp_tls_reports.id", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("seq", sa.Integer(), nullable=False),
    sa.Column("policy_type", sa.String(16), nullable=False),
    sa.Column("policy_domain", sa.String(), nullable=False),
    sa.Column("successful_sessions", sa.BigInteger(), nullable=False),
    sa.Column("failed_sessions", sa.BigInteger(), nullable=False),
    sa.Column("policy_strings", _Json, nullable=True),
    sa.Column("mx_hosts", _Json, nullable=True),
    sa.Column("failures", _Json, nullable=True),
    sa.PrimaryKeyConstraint("report_pk", "seq"),
    sa.Index(None, "policy_domain"),
)
