"""Storing events: idempotent on ``(provider, event_id)``, with the rollups, the first-open and
first-click markers and the suppression list changed in the same transaction, for newly stored
events only. An ESP retrying a webhook, or a file imported twice, changes nothing.

Throughput comes from batching. Per batch of events, one driver-level ``executemany`` of
``INSERT … ON CONFLICT DO NOTHING`` stores the new ones. The rows past the largest id read
before the insert are exactly the new ones (ids only grow, and the store lock keeps other
writers out until we commit), so the database counts them into the rollups itself
(``rollups.add_to_rollups``): one upsert per distinct bucket, no per-event work in Python.
Only opens, clicks, hard bounces, complaints and unsubscribes get per-event work here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import islice
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from deliverwatch.events.model import BounceClass, Event, EventType
from deliverwatch.store.engine import (
    bind_processor,
    driver_executemany,
    lock_store_for_writing,
    time_to_driver,
    upsert_insert,
)
from deliverwatch.store.rollups import (
    UNIQUE_CLICK,
    UNIQUE_OPEN,
    Horizons,
    RollupDeltas,
    add_to_rollups,
    read_horizons,
    utc_epoch,
)
from deliverwatch.store.schema import events, first_engagements
from deliverwatch.store.suppressions import Suppression, SuppressionReason, record_suppressions

#: Events per round of statements: big enough to amortize statement overhead and to collapse
#: rollup increments, small enough to bound memory on a huge file.
BATCH_SIZE = 10_000
_UNIQUE = {EventType.OPENED: UNIQUE_OPEN, EventType.CLICKED: UNIQUE_CLICK}
_NOTABLE = {
    EventType.OPENED,
    EventType.CLICKED,
    EventType.BOUNCED,
    EventType.COMPLAINED,
    EventType.UNSUBSCRIBED,
}
#: Enum member → plain str for the driver (a dict lookup is cheaper than ``.value``, and
#: psycopg would dump an Enum by its name).
_VALUE: dict[EventType | BounceClass, str] = {
    member: member.value for enum in (EventType, BounceClass) for member in enum
}
_KEY_CHUNK = 1000  # ids per IN (...) lookup

#: (provider, message key, kind) → (Unix second, sending domain, mailbox provider).
_Markers = dict[tuple[str, str, str], tuple[int, str, str]]


@dataclass(frozen=True, slots=True)
class InsertResult:
    """What ``insert_events`` did with the events it was given.

    ``expired``: events older than the raw-event retention horizon, refused because their
    duplicates may already have been deleted (see ``rollups.compact``).
    """

    inserted: int = 0
    duplicates: int = 0
    expired: int = 0

    def __add__(self, other: InsertResult) -> InsertResult:
        return InsertResult(
            self.inserted + other.inserted,
            self.duplicates + other.duplicates,
            self.expired + other.expired,
        )

    def to_dict(self) -> dict[str, int]:
        return {"inserted": self.inserted, "duplicates": self.duplicates, "expired": self.expired}


def insert_events(
    conn: Connection, new_events: Iterable[Event], *, batch_size: int = BATCH_SIZE
) -> InsertResult:
    """Store ``new_events`` in the caller's transaction; returns how many were new.

    On SQLite open the transaction with ``begin_write(engine)`` (``BEGIN IMMEDIATE``).
    """
    lock_store_for_writing(conn)
    writer = _EventWriter(conn, read_horizons(conn))
    total = InsertResult()
    iterator = iter(new_events)
    while batch := list(islice(iterator, batch_size)):
        total += writer.write(batch)
    return total


class _EventWriter:
    """The per-connection parts of an ingest: compiled statement and value converters."""

    def __init__(self, conn: Connection, horizons: Horizons) -> None:
        self.conn = conn
        self.horizons = horizons
        self.horizon = (
            datetime.fromtimestamp(horizons.events_from, UTC)
            if horizons.events_from is not None
            else None
        )
        self.insert = upsert_insert(conn, events).on_conflict_do_nothing(
            index_elements=["provider", "event_id"]
        )
        self.time = time_to_driver(conn)
        self.json = bind_processor(conn, events.c.raw) or _same
        self.tags: dict[tuple[str, ...], Any] = {}  # serialized tags: most events share a few

    def write(self, batch: list[Event]) -> InsertResult:
        """Store one batch. The loop is flat on purpose: at 100,000 events a second every
        attribute lookup and call per event shows."""
        horizon = self.horizon
        to_driver, tags_json, json = self.time, self._tags, self.json
        seen: set[tuple[str, str]] = set()
        # Opens, clicks and suppressing events need per-event work after the insert.
        notable: dict[tuple[str, str], tuple[Event, datetime]] = {}
        rows: list[tuple[Any, ...]] = []
        duplicates = expired = 0
        for event in batch:
            key = (event.provider, event.event_id)
            if key in seen:
                duplicates += 1
                continue
            seen.add(key)
            at = event.timestamp
            if at.tzinfo is not UTC:
                at = _utc(at)
            if horizon is not None and at < horizon:
                expired += 1
                continue
            kind = event.type
            if kind in _NOTABLE:
                notable[key] = (event, at)
            bounce_class = event.bounce_class
            rows.append(
                (
                    key[0],
                    key[1],
                    _VALUE[kind],
                    to_driver(at),
                    event.recipient,
                    event.recipient_domain,
                    event.mailbox_provider,
                    event.sending_domain,
                    event.message_id,
                    _VALUE[bounce_class] if bounce_class else None,
                    event.smtp_status,
                    event.diagnostic,
                    tags_json(event.tags) if event.tags else None,
                    event.campaign,
                    event.ip,
                    json(event.raw) if event.raw else None,
                )
            )
        last_id = self.conn.execute(sa.select(sa.func.max(events.c.id))).scalar() or 0
        stored = driver_executemany(self.conn, self.insert, EVENT_COLUMNS, rows)
        if stored:
            # Ids only grow, and the store lock keeps other writers out until we commit: the
            # rows past the previous largest id are exactly the ones this batch stored.
            if stored < len(rows) and notable:
                query = sa.select(events.c.provider, events.c.event_id).where(events.c.id > last_id)
                fresh = {(provider, event_id) for provider, event_id in self.conn.execute(query)}
                if len(fresh) != stored:
                    raise RuntimeError("events were stored concurrently outside insert_events")
                notable = {key: value for key, value in notable.items() if key in fresh}
            deltas = self._notable(notable.values())
            add_to_rollups(self.conn, after_id=last_id, deltas=deltas, horizons=self.horizons)
        return InsertResult(stored, duplicates + len(rows) - stored, expired)

    def _tags(self, tags: tuple[str, ...]) -> Any:
        if (value := self.tags.get(tags)) is None:
            value = self.tags[tags] = self.json(list(tags))
        return value

    def _notable(self, new: Iterable[tuple[Event, datetime]]) -> RollupDeltas:
        """Record unique-engagement markers and suppressions of newly stored events; returns
        the unique counters' rollup increments."""
        deltas = RollupDeltas()
        markers: _Markers = {}
        suppressions: list[Suppression] = []
        for event, at in new:
            kind = event.type
            if kind in _UNIQUE:
                epoch = int(at.timestamp())
                marker = (event.provider, _message_key(event), _VALUE[kind])
                seen = markers.get(marker)
                if seen is None or epoch < seen[0]:
                    markers[marker] = (epoch, event.sending_domain or "", event.mailbox_provider)
            elif (reason := _suppression_reason(event)) is not None:
                suppressions.append(
                    Suppression(
                        recipient=event.recipient,
                        sending_domain=event.sending_domain or "",
                        reason=reason,
                        first_at=at,
                        last_at=at,
                        provider=event.provider,
                        event_id=event.event_id,
                    )
                )
        _count_first_engagements(self.conn, markers, deltas)
        record_suppressions(self.conn, suppressions)
        return deltas


#: The events columns insert_events fills, in table order (id and received_at are defaults).
EVENT_COLUMNS = (
    "provider",
    "event_id",
    "type",
    "occurred_at",
    "recipient",
    "recipient_domain",
    "mailbox_provider",
    "sending_domain",
    "message_id",
    "bounce_class",
    "smtp_status",
    "diagnostic",
    "tags",
    "campaign",
    "ip",
    "raw",
)


def _same(value: Any) -> Any:
    return value


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is UTC:
        return moment
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _message_key(event: Event) -> str:
    """What makes an open or click unique: the message, or without a message id (rare) the
    recipient on that UTC day."""
    if event.message_id:
        return event.message_id
    return f"rcpt:{event.recipient.strip().lower()}:{_utc(event.timestamp).date().isoformat()}"


def _suppression_reason(event: Event) -> SuppressionReason | None:
    if event.type is EventType.BOUNCED and event.bounce_class is BounceClass.HARD:
        return "hard_bounce"
    if event.type is EventType.COMPLAINED:
        return "complaint"
    if event.type is EventType.UNSUBSCRIBED:
        return "unsubscribe"
    return None


def _count_first_engagements(conn: Connection, markers: _Markers, deltas: RollupDeltas) -> None:
    """Count a unique open (click) for each message's earliest open (click) only.

    New markers count where they happened. A marker that exists already moves only when this
    batch holds an earlier event (events arrive out of order): its count moves with it, so the
    unique counter stays one per message, in the bucket of the first engagement.
    """
    if not markers:
        return
    table = first_engagements
    time = time_to_driver(conn)
    existing: dict[tuple[str, str, str], tuple[datetime, str, str]] = {}
    groups: dict[tuple[str, str], list[str]] = {}
    for provider, message_key, kind in markers:
        groups.setdefault((provider, kind), []).append(message_key)
    for (provider, kind), message_keys in groups.items():
        for start in range(0, len(message_keys), _KEY_CHUNK):
            query = sa.select(
                table.c.message_key,
                table.c.first_at,
                table.c.sending_domain,
                table.c.mailbox_provider,
            ).where(
                table.c.provider == provider,
                table.c.kind == kind,
                table.c.message_key.in_(message_keys[start : start + _KEY_CHUNK]),
            )
            for message_key, first_at, domain, mailbox_provider in conn.execute(query):
                existing[(provider, message_key, kind)] = (first_at, domain, mailbox_provider)
    created = []
    moves = []
    for key, (epoch, domain, mailbox_provider) in markers.items():
        provider, message_key, kind = key
        counter = _UNIQUE[EventType(kind)]
        at = datetime.fromtimestamp(epoch, UTC)
        if (old := existing.get(key)) is None:
            deltas.add((domain, mailbox_provider, provider, counter, ""), epoch)
            created.append((provider, message_key, kind, time(at), domain, mailbox_provider))
            continue
        old_epoch = utc_epoch(old[0])
        if epoch >= old_epoch:
            continue
        deltas.add((old[1], old[2], provider, counter, ""), old_epoch, -1)
        deltas.add((domain, mailbox_provider, provider, counter, ""), epoch)
        moves.append(
            {
                "k_provider": provider,
                "k_message_key": message_key,
                "k_kind": kind,
                "first_at": at,
                "sending_domain": domain,
                "mailbox_provider": mailbox_provider,
            }
        )
    columns = ("provider", "message_key", "kind", "first_at", "sending_domain", "mailbox_provider")
    driver_executemany(conn, sa.insert(table), columns, created)
    if moves:
        conn.execute(
            sa.update(table).where(
                table.c.provider == sa.bindparam("k_provider"),
                table.c.message_key == sa.bindparam("k_message_key"),
                table.c.kind == sa.bindparam("k_kind"),
            ),  # the SET clause is the rows' other keys: first_at and the two dimensions
            moves,
        )
