"""The durable outbox: notifications are stored first, then delivered, never lost.

:func:`enqueue` writes one row per (notification, channel) in the caller's transaction, the
one that records the alert change causing it: either both are stored or neither is.
:func:`deliver_due` (``notify/delivery.py``) later claims due rows, sends them and records
the outcome; see docs/notifications.md for the retry policy and delivery guarantees.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from deliverwatch.notify.model import Notification

if TYPE_CHECKING:
    from deliverwatch.clock import Clock
    from deliverwatch.config import Config
    from deliverwatch.notify.delivery import DeliveryReport
from deliverwatch.store.engine import begin_write, from_store_time, upsert_insert
from deliverwatch.store.schema import notification_outbox as outbox

OutboxState = Literal["pending", "sending", "delivered", "failed"]
STATES: tuple[OutboxState, ...] = ("pending", "sending", "delivered", "failed")
#: States a row leaves only by being sent (or given up on).
UNFINISHED: tuple[OutboxState, ...] = ("pending", "sending")


def enqueue(
    conn: Connection, notification: Notification, channels: Sequence[str], at: datetime
) -> list[int]:
    """Queue ``notification`` for each of ``channels``, due at ``at``; returns the row ids.

    Runs in the caller's transaction (nothing is committed here). Enqueueing the same
    notification id for a channel again is a no-op that returns the existing row's id, so a
    retried transaction cannot queue a message twice.
    """
    names = list(dict.fromkeys(channels))
    if not names:
        return []
    at = _utc(at)
    payload = notification.to_dict()
    rows = [
        {
            "notification_id": notification.id,
            "channel": name,
            "kind": notification.kind,
            "severity": notification.severity,
            "fingerprint": notification.fingerprint,
            "domain": notification.domain,
            "title": notification.title[:500],
            "payload": payload,
            "state": "pending",
            "attempts": 0,
            "created_at": at,
            "next_attempt_at": at,
        }
        for name in names
    ]
    stmt = upsert_insert(conn, outbox).on_conflict_do_nothing(
        index_elements=["notification_id", "channel"]
    )
    conn.execute(stmt, rows)
    found = conn.execute(
        sa.select(outbox.c.channel, outbox.c.id).where(
            outbox.c.notification_id == notification.id, outbox.c.channel.in_(names)
        )
    ).all()
    ids = {channel: row_id for channel, row_id in found}
    return [int(ids[name]) for name in names]


async def deliver_due(
    engine: Engine,
    config: Config,
    clock: Clock,
    *,
    channels: Sequence[str] | None = None,
) -> DeliveryReport:
    """One delivery pass over the due rows (the scheduler's job; ``alerts evaluate``).

    Defined in ``delivery.py`` (it needs the channels); here because callers know the outbox.
    """
    from deliverwatch.notify.delivery import deliver_due as run

    return await run(engine, config, clock, channels=channels)


@dataclass(frozen=True)
class OutboxItem:
    """One row of the outbox, as ``deliverwatch notify outbox`` and the API show it."""

    id: int
    notification_id: str
    channel: str
    kind: str
    severity: str
    fingerprint: str
    domain: str | None
    title: str
    state: OutboxState
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    last_error: str | None
    lease_until: datetime | None

    def to_dict(self) -> dict[str, Any]:
        def iso(moment: datetime | None) -> str | None:
            return None if moment is None else moment.isoformat()

        return {
            "id": self.id,
            "notification_id": self.notification_id,
            "channel": self.channel,
            "kind": self.kind,
            "severity": self.severity,
            "fingerprint": self.fingerprint,
            "domain": self.domain,
            "title": self.title,
            "state": self.state,
            "attempts": self.attempts,
            "created_at": iso(self.created_at),
            "next_attempt_at": iso(self.next_attempt_at),
            "last_attempt_at": iso(self.last_attempt_at),
            "delivered_at": iso(self.delivered_at),
            "last_error": self.last_error,
            "lease_until": iso(self.lease_until),
        }


_ITEM_COLUMNS = (
    outbox.c.id,
    outbox.c.notification_id,
    outbox.c.channel,
    outbox.c.kind,
    outbox.c.severity,
    outbox.c.fingerprint,
    outbox.c.domain,
    outbox.c.title,
    outbox.c.state,
    outbox.c.attempts,
    outbox.c.created_at,
    outbox.c.next_attempt_at,
    outbox.c.last_attempt_at,
    outbox.c.delivered_at,
    outbox.c.last_error,
    outbox.c.lease_until,
)


def list_outbox(
    conn: Connection,
    state: OutboxState | Sequence[OutboxState] | None = None,
    *,
    channel: str | None = None,
    notification_id: str | None = None,
    limit: int = 200,
) -> list[OutboxItem]:
    """Outbox rows, newest first; ``state`` one state or several."""
    query = sa.select(*_ITEM_COLUMNS).order_by(outbox.c.created_at.desc(), outbox.c.id.desc())
    if state is not None:
        wanted = [state] if isinstance(state, str) else list(state)
        query = query.where(outbox.c.state.in_(wanted))
    if channel is not None:
        query = query.where(outbox.c.channel == channel)
    if notification_id is not None:
        query = query.where(outbox.c.notification_id == notification_id)
    return [_item(row._mapping) for row in conn.execute(query.limit(limit))]


def outbox_counts(conn: Connection) -> dict[tuple[str, str], int]:
    """Rows per (channel, state): for ``/metrics`` and the overview."""
    query = sa.select(outbox.c.channel, outbox.c.state, sa.func.count()).group_by(
        outbox.c.channel, outbox.c.state
    )
    return {(channel, state): int(count) for channel, state, count in conn.execute(query)}


def _item(m: sa.RowMapping) -> OutboxItem:
    return OutboxItem(
        id=int(m["id"]),
        notification_id=m["notification_id"],
        channel=m["channel"],
        kind=m["kind"],
        severity=m["severity"],
        fingerprint=m["fingerprint"],
        domain=m["domain"],
        title=m["title"],
        state=m["state"],
        attempts=int(m["attempts"]),
        created_at=from_store_time(m["created_at"]),
        next_attempt_at=from_store_time(m["next_attempt_at"]),
        last_attempt_at=_aware_or_none(m["last_attempt_at"]),
        delivered_at=_aware_or_none(m["delivered_at"]),
        last_error=m["last_error"],
        lease_until=_aware_or_none(m["lease_until"]),
    )


# -- the sender's side: claim, then record each outcome -----------------------------------------

#: PostgreSQL advisory lock taken while claiming ("dw-outbx"): claims take turns, as under
#: SQLite's write lock, so two senders never both see a channel as free.
OUTBOX_LOCK_KEY = 0x64772D6F75746278


@dataclass(frozen=True)
class ClaimedRow:
    """A row leased to one sender: only that sender records its outcome."""

    id: int
    notification_id: str
    channel: str
    payload: dict[str, Any]
    attempts: int  # attempts before this one (an expired lease counts as one)
    created_at: datetime


def claim_due(
    engine: Engine,
    now: datetime,
    owner: str,
    *,
    lease_seconds: int,
    batch_size: int,
    channels: Sequence[str] | None = None,
) -> dict[str, list[ClaimedRow]]:
    """Lease each channel's due rows to ``owner``, oldest first, and return them by channel.

    Per channel only a prefix of its unfinished rows in creation order is claimed: it stops at
    the first row not due yet (a retry waiting for its backoff), so later notifications never
    overtake an earlier one. A channel with a live lease held by anyone is skipped; a lease
    that expired (its sender crashed or hung) makes the row claimable again.
    """
    now = _utc(now)
    until = now + timedelta(seconds=lease_seconds)
    claimed: dict[str, list[ClaimedRow]] = {}
    with begin_write(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": OUTBOX_LOCK_KEY})
        names_query = sa.select(outbox.c.channel).distinct().where(outbox.c.state.in_(UNFINISHED))
        if channels is not None:
            names_query = names_query.where(outbox.c.channel.in_(list(channels)))
        for (channel,) in conn.execute(names_query.order_by(outbox.c.channel)).all():
            rows = _claimable_prefix(conn, channel, now, batch_size)
            if not rows:
                continue
            conn.execute(
                sa.update(outbox)
                .where(outbox.c.id.in_([row.id for row in rows]))
                .values(
                    attempts=outbox.c.attempts + sa.case((outbox.c.state == "sending", 1), else_=0),
                    state="sending",
                    lease_owner=owner,
                    lease_until=until,
                    last_attempt_at=now,
                )
            )
            claimed[channel] = rows
    return claimed


def _claimable_prefix(
    conn: Connection, channel: str, now: datetime, limit: int
) -> list[ClaimedRow]:
    query = (
        sa.select(
            outbox.c.id,
            outbox.c.notification_id,
            outbox.c.payload,
            outbox.c.state,
            outbox.c.attempts,
            outbox.c.created_at,
            outbox.c.next_attempt_at,
            outbox.c.lease_until,
        )
        .where(outbox.c.channel == channel, outbox.c.state.in_(UNFINISHED))
        .order_by(outbox.c.created_at, outbox.c.id)
        .limit(limit)
    )
    rows: list[ClaimedRow] = []
    for m in (row._mapping for row in conn.execute(query)):
        lease_until = _aware_or_none(m["lease_until"])
        if m["state"] == "sending":
            if lease_until is not None and lease_until > now:
                return []  # another sender is working through this channel
            attempts = int(m["attempts"]) + 1
        elif from_store_time(m["next_attempt_at"]) <= now:
            attempts = int(m["attempts"])
        else:
            break  # not due: nothing behind it may go first
        rows.append(
            ClaimedRow(
                id=int(m["id"]),
                notification_id=m["notification_id"],
                channel=channel,
                payload=dict(m["payload"]),
                attempts=attempts,
                created_at=from_store_time(m["created_at"]),
            )
        )
    return rows


def mark_delivered(engine: Engine, row_id: int, owner: str, at: datetime) -> bool:
    """Record a delivery; False if ``owner`` no longer holds the lease (see :func:`_finish`)."""
    return _finish(
        engine,
        row_id,
        owner,
        state="delivered",
        attempts=outbox.c.attempts + 1,
        delivered_at=_utc(at),
        last_error=None,
    )


def mark_retry(
    engine: Engine, row_id: int, owner: str, error: str, next_attempt_at: datetime
) -> bool:
    """Put the row back in line for another attempt at ``next_attempt_at``."""
    return _finish(
        engine,
        row_id,
        owner,
        state="pending",
        attempts=outbox.c.attempts + 1,
        next_attempt_at=_utc(next_attempt_at),
        last_error=error[:2000],
    )


def mark_failed(engine: Engine, row_id: int, owner: str, error: str) -> bool:
    """Give the row up for good: a permanent error, or the attempt/age limit reached."""
    return _finish(
        engine,
        row_id,
        owner,
        state="failed",
        attempts=outbox.c.attempts + 1,
        last_error=error[:2000],
    )


def release(engine: Engine, row_ids: Sequence[int], owner: str) -> int:
    """Hand claimed rows back unsent (their channel failed earlier in the pass): they keep
    their place, their attempt count and their due time."""
    if not row_ids:
        return 0
    with begin_write(engine) as conn:
        result = conn.execute(
            sa.update(outbox)
            .where(
                outbox.c.id.in_(list(row_ids)),
                outbox.c.lease_owner == owner,
                outbox.c.state == "sending",
            )
            .values(state="pending", lease_owner=None, lease_until=None)
        )
        return result.rowcount or 0


def _finish(engine: Engine, row_id: int, owner: str, **values: Any) -> bool:
    """Record an outcome if ``owner`` still holds the row. A sender that outlived its lease
    (it hung past ``lease_seconds``) may find the row taken over; then the other sender's
    outcome stands and this one is dropped."""
    with begin_write(engine) as conn:
        result = conn.execute(
            sa.update(outbox)
            .where(
                outbox.c.id == row_id,
                outbox.c.lease_owner == owner,
                outbox.c.state == "sending",
            )
            .values(lease_owner=None, lease_until=None, **values)
        )
        return (result.rowcount or 0) == 1


def purge_finished(engine: Engine, before: datetime) -> int:
    """Delete delivered and failed rows created before ``before``; returns how many."""
    with begin_write(engine) as conn:
        result = conn.execute(
            sa.delete(outbox).where(
                outbox.c.state.in_(["delivered", "failed"]), outbox.c.created_at < _utc(before)
            )
        )
        return result.rowcount or 0


def next_due(conn: Connection) -> datetime | None:
    """When the next pass has something to send: per channel the time its oldest unfinished
    row is due (or its lease ends), the earliest of those. Rows behind a channel's head wait
    for it, whatever their own due time, so they do not count."""
    channels = conn.execute(
        sa.select(outbox.c.channel).distinct().where(outbox.c.state.in_(UNFINISHED))
    ).scalars()
    times: list[datetime] = []
    for channel in list(channels):
        head = conn.execute(
            sa.select(outbox.c.state, outbox.c.next_attempt_at, outbox.c.lease_until)
            .where(outbox.c.channel == channel, outbox.c.state.in_(UNFINISHED))
            .order_by(outbox.c.created_at, outbox.c.id)
            .limit(1)
        ).one()
        when = head.lease_until if head.state == "sending" else head.next_attempt_at
        if when is not None:
            times.append(from_store_time(when))
    return min(times, default=None)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("outbox times must be timezone-aware")
    return moment.astimezone(UTC)


def _aware_or_none(moment: datetime | None) -> datetime | None:
    return None if moment is None else from_store_time(moment)


__all__ = [
    "OUTBOX_LOCK_KEY",
    "STATES",
    "UNFINISHED",
    "ClaimedRow",
    "DeliveryReport",
    "OutboxItem",
    "OutboxState",
    "claim_due",
    "deliver_due",
    "enqueue",
    "list_outbox",
    "mark_delivered",
    "mark_failed",
    "mark_retry",
    "next_due",
    "outbox_counts",
    "purge_finished",
    "release",
]
