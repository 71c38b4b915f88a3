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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from deliverwatch.events.model import BounceClass, Event, EventType
from deliverwatch.store.engine import (
    bind_processor,
    bulk_page_cache,
    driver_executemany,
    json_text_to_driver,
    lock_store_for_writing,
    sqlite_time,
    time_to_driver,
    upsert_insert,
)
from deliverwatch.store.rollups import (
    MINUTE,
    UNIQUE_CLICK,
    UNIQUE_OPEN,
    Horizons,
    RollupDeltas,
    Series,
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
_UNIQUE_BY_VALUE = {kind.value: counter for kind, counter in _UNIQUE.items()}
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
_CACHE_LIMIT = 4096  # entries of the tags and minute caches of one ingest

#: (provider, message key, kind) → (Unix second, sending domain, mailbox provider).
_MarkerKey = tuple[str, str, str]
_Markers = dict[_MarkerKey, tuple[int, str, str]]


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
    with bulk_page_cache(conn):
        while (batch := writer.prepare(islice(iterator, batch_size))).size:
            total += writer.write(batch)
    return total


@dataclass(slots=True)
class _Batch:
    """What one batch of events becomes before it is stored: only flat tuples of strings and
    numbers. The events themselves are dropped as their rows are made, so a batch does not keep
    10,000 events and their payloads alive, which the cyclic garbage collector would traverse
    again and again (that cost more than building the events)."""

    size: int = 0  # events consumed
    expired: int = 0
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    minutes: list[int] = field(default_factory=list)  # per row: its minute bucket
    #: Rollup counts, assuming every row is new: series → minute → events.
    counts: dict[Series, dict[int, int]] = field(default_factory=dict)
    #: Opens and clicks: (provider, event_id) → (marker key, Unix second, domain, mailbox provider).
    engagements: dict[tuple[str, str], tuple[_MarkerKey, int, str, str]] = field(
        default_factory=dict
    )
    #: Suppressing events: (provider, event_id) → (recipient, domain, reason, time).
    suppressing: dict[tuple[str, str], tuple[str, str, SuppressionReason, datetime]] = field(
        default_factory=dict
    )


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
        self.json_text = json_text_to_driver(conn)
        self.tags: dict[tuple[str, ...], Any] = {}  # serialized tags: most events share a few
        self.series: dict[Series, int] = {}  # rollup series ids met in this transaction
        self.minute_texts: dict[int, str] = {}  # minute → its SQLite time text prefix

    def prepare(self, new_events: Iterable[Event]) -> _Batch:
        """Rows, rollup counts and per-event follow-ups of a batch. The loop is flat on
        purpose: at 100,000 events a second every attribute lookup and call per event shows."""
        batch = _Batch()
        horizon = self.horizon
        to_driver, json, json_text, tags_json = self.time, self.json, self.json_text, self.tags
        # SQLite text times, made from a per-minute prefix: isoformat() costs more than the
        # rest of the row (see sqlite_time for the format).
        minute_texts = self.minute_texts if to_driver is sqlite_time else None
        for cache in (tags_json, self.minute_texts):
            if len(cache) > _CACHE_LIMIT:  # bounded: a file may tag every message differently
                cache.clear()
        rows, minutes, counts = batch.rows, batch.minutes, batch.counts
        engagements, suppressing = batch.engagements, batch.suppressing
        size = expired = 0
        # Duplicates within the batch are left to the database: they make it store fewer rows.
        for event in new_events:
            size += 1
            at = event.timestamp
            if at.tzinfo is not UTC:
                at = _utc(at)
            if horizon is not None and at < horizon:
                expired += 1
                continue
            provider, event_id, kind = event.provider, event.event_id, event.type
            epoch = int(at.timestamp() // 1)
            minute = epoch - epoch % MINUTE
            if minute_texts is None:
                when = to_driver(at)
            else:
                if (prefix := minute_texts.get(minute)) is None:
                    prefix = minute_texts[minute] = sqlite_time(at)[:17]  # "2025-03-10 12:30:"
                when = f"{prefix}{epoch - minute:02d}.{at.microsecond:06d}"
            kind_value = _VALUE[kind]
            bounce_class = event.bounce_class
            class_value = _VALUE[bounce_class] if bounce_class else None
            tags = event.tags
            tags_value = None
            if tags and (tags_value := tags_json.get(tags)) is None:
                tags_value = tags_json[tags] = json(list(tags))
            raw, raw_json = event.raw, event.raw_json
            if not raw:
                raw_value = None
            elif raw_json is None:
                raw_value = json(raw)
            else:
                raw_value = raw_json if json_text is None else json_text(raw_json)
            sending_domain, mailbox_provider = event.sending_domain, event.mailbox_provider
            rows.append(
                (
                    provider,
                    event_id,
                    kind_value,
                    when,
                    event.recipient,
                    event.recipient_domain,
                    mailbox_provider,
                    sending_domain,
                    event.message_id,
                    class_value,
                    event.smtp_status,
                    event.diagnostic,
                    tags_value,
                    event.campaign,
                    event.ip,
                    raw_value,
                )
            )
            minutes.append(minute)
            domain = sending_domain or ""
            series = (domain, mailbox_provider, provider, kind_value, class_value or "")
            if (counted := counts.get(series)) is None:
                counted = counts[series] = {}
            counted[minute] = counted.get(minute, 0) + 1
            if kind in _NOTABLE:
                key = (provider, event_id)
                if kind in _UNIQUE:
                    if key not in engagements:
                        marker = (provider, event.message_id or _message_key(event), kind_value)
                        engagements[key] = (marker, epoch, domain, mailbox_provider)
                elif (reason := _suppression_reason(event)) and key not in suppressing:
                    suppressing[key] = (event.recipient, domain, reason, at)
        batch.size, batch.expired = size, expired
        return batch

    def write(self, batch: _Batch) -> InsertResult:
        """Store a prepared batch: the events, then for the new ones only the markers,
        suppressions and rollups."""
        rows = batch.rows
        last_id = self.conn.execute(sa.select(sa.func.max(events.c.id))).scalar() or 0
        stored = driver_executemany(self.conn, self.insert, EVENT_COLUMNS, rows)
        if stored:
            deltas = RollupDeltas()
            engagements, suppressing = batch.engagements, batch.suppressing
            if stored < len(rows):
                # Ids only grow, and the store lock keeps other writers out until we commit:
                # the rows past the previous largest id are exactly the ones this batch stored.
                query = sa.select(events.c.provider, events.c.event_id).where(events.c.id > last_id)
                fresh = {(provider, event_id) for provider, event_id in self.conn.execute(query)}
                if len(fresh) != stored:
                    raise RuntimeError("events were stored concurrently outside insert_events")
                engagements = {k: v for k, v in engagements.items() if k in fresh}
                suppressing = {k: v for k, v in suppressing.items() if k in fresh}
                _count_new(deltas, batch, fresh)
            else:
                deltas.counts = batch.counts
            markers: _Markers = {}
            for marker, epoch, domain, mailbox_provider in engagements.values():
                seen = markers.get(marker)
                if seen is None or epoch < seen[0]:
                    markers[marker] = (epoch, domain, mailbox_provider)
            _count_first_engagements(self.conn, markers, deltas)
            record_suppressions(
                self.conn,
                [
                    Suppression(
                        recipient=recipient,
                        sending_domain=domain,
                        reason=reason,
                        first_at=at,
                        last_at=at,
                        provider=provider,
                        event_id=event_id,
                    )
                    for (provider, event_id), (recipient, domain, reason, at) in suppressing.items()
                ],
            )
            add_to_rollups(self.conn, deltas, horizons=self.horizons, series_cache=self.series)
        return InsertResult(stored, batch.size - batch.expired - stored, batch.expired)


def _count_new(deltas: RollupDeltas, batch: _Batch, fresh: set[tuple[str, str]]) -> None:
    """Count the rows of ``batch`` that were stored (``fresh``), each once: the slow path of
    ``write``, for batches that held events stored before (or twice)."""
    counted: set[tuple[str, str]] = set()
    for row, minute in zip(batch.rows, batch.minutes, strict=True):
        key = (row[0], row[1])
        if key not in fresh or key in counted:
            continue
        counted.add(key)
        # provider, type, mailbox provider, sending domain, bounce class: see EVENT_COLUMNS
        series = (row[7] or "", row[6], row[0], row[2], row[9] or "")
        deltas.add(series, minute)


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


# One statement for every lookup: an expanding IN is rendered per execution from a cached
# compilation, where ``in_(list)`` would build a bound parameter object per key.
_EXISTING_MARKERS = sa.select(
    first_engagements.c.message_key,
    first_engagements.c.first_at,
    first_engagements.c.sending_domain,
    first_engagements.c.mailbox_provider,
).where(
    first_engagements.c.provider == sa.bindparam("p"),
    first_engagements.c.kind == sa.bindparam("k"),
    first_engagements.c.message_key.in_(sa.bindparam("keys", expanding=True)),
)


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
            params = {"p": provider, "k": kind, "keys": message_keys[start : start + _KEY_CHUNK]}
            for message_key, first_at, domain, mailbox_provider in conn.execute(
                _EXISTING_MARKERS, params
            ):
                existing[(provider, message_key, kind)] = (first_at, domain, mailbox_provider)
    created = []
    moves = []
    counts = deltas.counts
    for key, (epoch, domain, mailbox_provider) in markers.items():
        provider, message_key, kind = key
        counter = _UNIQUE_BY_VALUE[kind]
        at = datetime.fromtimestamp(epoch, UTC)
        if (old := existing.get(key)) is None:  # the usual case: deltas.add, inline
            series = (domain, mailbox_provider, provider, counter, "")
            if (minutes := counts.get(series)) is None:
                minutes = counts[series] = {}
            minute = epoch - epoch % MINUTE
            minutes[minute] = minutes.get(minute, 0) + 1
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
