"""The suppression list: recipients not to mail again, and why.

``insert_events`` adds hard bounces, complaints and unsubscribes as they are first stored;
people add and remove entries by hand. One row per (recipient, sending domain, reason) keeps
every reason and when it was first and last seen.

Scope: a hard bounce means the address does not exist, so it suppresses the recipient for
every sending domain; a complaint or an unsubscribe is about the sender, so it suppresses the
recipient for its sending domain only. An entry whose sending domain is unknown (``''``)
applies to every domain: without knowing which sender was refused, assume all were.
Recipients are compared lower-cased.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, Literal, get_args

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from deliverwatch.store.engine import (
    driver_executemany,
    from_store_time,
    time_to_driver,
    upsert_insert,
)
from deliverwatch.store.schema import suppressions

SuppressionReason = Literal["hard_bounce", "complaint", "unsubscribe", "manual"]
REASONS: tuple[str, ...] = get_args(SuppressionReason)


@dataclass(frozen=True, slots=True)
class Suppression:
    recipient: str
    sending_domain: str  # '' = every domain
    reason: SuppressionReason
    first_at: datetime
    last_at: datetime
    events: int = 1
    provider: str | None = None
    event_id: str | None = None  # the event that first caused it

    def to_dict(self) -> dict[str, Any]:
        return {
            "recipient": self.recipient,
            "sending_domain": self.sending_domain or None,
            "reason": self.reason,
            "first_at": _iso(self.first_at),
            "last_at": _iso(self.last_at),
            "events": self.events,
            "provider": self.provider,
            "event_id": self.event_id,
        }


#: A :class:`Suppression` as a plain tuple: (recipient, sending domain, reason, first_at,
#: last_at, events, provider, event_id).
SuppressionRow = tuple[str, str, SuppressionReason, datetime, datetime, int, str | None, str | None]


def record_suppressions(conn: Connection, entries: Iterable[Suppression]) -> None:
    """Upsert ``entries``: new keys are added, known ones get their times widened and their
    event count added to (the provider and event are those of the earliest)."""
    record_suppression_rows(
        conn,
        [
            (
                e.recipient,
                e.sending_domain,
                e.reason,
                e.first_at,
                e.last_at,
                e.events,
                e.provider,
                e.event_id,
            )
            for e in entries
        ],
    )


def record_suppression_rows(conn: Connection, entries: Iterable[SuppressionRow]) -> None:
    """:func:`record_suppressions` of tuples, as ``insert_events`` makes them for its hard
    bounces, complaints and unsubscribes: a batch of webhook events can hold thousands (a bad
    list). They go to the driver as tuples through one compiled statement: SQLAlchemy's own
    executemany cost more per row than the upsert."""
    # key → [provider, event_id, first_at, last_at, events]
    merged: dict[tuple[str, str, str], list[Any]] = {}
    for recipient, domain, reason, first_at, last_at, events, provider, event_id in entries:
        key = (_recipient(recipient), _domain(domain), reason)
        seen = merged.get(key)
        if seen is None:
            merged[key] = [provider, event_id, first_at, last_at, 0]
            seen = merged[key]
        elif first_at < seen[2]:
            seen[0], seen[1], seen[2] = provider, event_id, first_at
        if last_at > seen[3]:
            seen[3] = last_at
        seen[4] += events
    if not merged:
        return
    time = time_to_driver(conn)
    rows = []
    for entry, (provider, event_id, first, last, count) in sorted(merged.items()):
        first_text = time(first)
        last_text = first_text if last is first else time(last)  # one event: one time
        rows.append((*entry, provider, event_id, first_text, last_text, count))
    driver_executemany(conn, _upsert(conn.dialect.name), _COLUMNS, rows)


_COLUMNS = (
    "recipient",
    "sending_domain",
    "reason",
    "provider",
    "event_id",
    "first_at",
    "last_at",
    "events",
)


@lru_cache(maxsize=4)
def _upsert(dialect: str) -> sa.Insert:
    """The upsert of :func:`record_suppressions`, built once per dialect (its compiled SQL
    is cached by ``driver_executemany``)."""
    t = suppressions
    stmt = upsert_insert(dialect, t)
    new = stmt.excluded
    earlier = new.first_at < t.c.first_at
    return stmt.on_conflict_do_update(
        index_elements=["recipient", "sending_domain", "reason"],
        set_={
            "first_at": sa.case((earlier, new.first_at), else_=t.c.first_at),
            "last_at": sa.case((new.last_at > t.c.last_at, new.last_at), else_=t.c.last_at),
            "events": t.c.events + new.events,
            "provider": sa.case((earlier, new.provider), else_=t.c.provider),
            "event_id": sa.case((earlier, new.event_id), else_=t.c.event_id),
        },
    )


def add_suppression(
    conn: Connection,
    recipient: str,
    *,
    sending_domain: str | None = None,
    reason: SuppressionReason = "manual",
    at: datetime | None = None,
) -> None:
    """Suppress ``recipient`` by hand (for ``sending_domain``, or every domain when None)."""
    if reason not in REASONS:
        raise ValueError(f"unknown suppression reason {reason!r} (one of {', '.join(REASONS)})")
    moment = at or datetime.now(UTC)
    record_suppressions(
        conn,
        [Suppression(recipient, sending_domain or "", reason, first_at=moment, last_at=moment)],
    )


def remove_suppressions(
    conn: Connection,
    recipient: str,
    *,
    sending_domain: str | None = None,
    reason: SuppressionReason | None = None,
) -> int:
    """Delete a recipient's entries (only those of ``sending_domain`` / ``reason`` when given);
    returns how many were deleted."""
    t = suppressions
    stmt = sa.delete(t).where(t.c.recipient == _recipient(recipient))
    if sending_domain is not None:
        stmt = stmt.where(t.c.sending_domain == _domain(sending_domain))
    if reason is not None:
        stmt = stmt.where(t.c.reason == reason)
    return conn.execute(stmt).rowcount


def suppressions_for(
    conn: Connection, recipient: str, *, sending_domain: str | None = None
) -> list[Suppression]:
    """The entries that stop mail to ``recipient`` from ``sending_domain`` (any domain when
    None), oldest first; empty when the recipient may be mailed."""
    t = suppressions
    query = sa.select(t).where(t.c.recipient == _recipient(recipient))
    if sending_domain is not None:
        query = query.where(
            sa.or_(
                t.c.reason == "hard_bounce",
                t.c.sending_domain.in_(["", _domain(sending_domain)]),
            )
        )
    query = query.order_by(t.c.first_at, t.c.sending_domain, t.c.reason)
    return [_from_row(row) for row in conn.execute(query).mappings()]


def is_suppressed(conn: Connection, recipient: str, *, sending_domain: str | None = None) -> bool:
    return bool(suppressions_for(conn, recipient, sending_domain=sending_domain))


def list_suppressions(
    conn: Connection,
    *,
    sending_domain: str | None = None,
    reason: SuppressionReason | None = None,
    after: str | None = None,
    limit: int = 1000,
) -> list[Suppression]:
    """A page of entries ordered by recipient; pass the last recipient seen as ``after`` for
    the next page. ``sending_domain`` selects that domain's own entries (not the global ones)."""
    t = suppressions
    query = sa.select(t)
    if sending_domain is not None:
        query = query.where(t.c.sending_domain == _domain(sending_domain))
    if reason is not None:
        query = query.where(t.c.reason == reason)
    if after is not None:
        query = query.where(t.c.recipient > _recipient(after))
    query = query.order_by(t.c.recipient, t.c.sending_domain, t.c.reason).limit(limit)
    return [_from_row(row) for row in conn.execute(query).mappings()]


def _from_row(row: sa.RowMapping) -> Suppression:
    return Suppression(
        recipient=row["recipient"],
        sending_domain=row["sending_domain"],
        reason=row["reason"],
        first_at=from_store_time(row["first_at"]),
        last_at=from_store_time(row["last_at"]),
        events=row["events"],
        provider=row["provider"],
        event_id=row["event_id"],
    )


def _recipient(value: str) -> str:
    return value.strip().lower()


def _domain(value: str) -> str:
    return value.strip().rstrip(".").lower()


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
