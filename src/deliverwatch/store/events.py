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

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect

from deliverwatch.events.model import Event
from deliverwatch.events.rows import BATCH_SIZE, Batch, RowMaker, minute_of
from deliverwatch.store.engine import (
    bind_processor,
    bulk_page_cache,
    driver_insert_rows,
    lock_store_for_writing,
    time_to_driver,
    upsert_insert,
)
from deliverwatch.store.rawblocks import store_block
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
from deliverwatch.store.schema import event_raw_blocks, events, first_engagements
from deliverwatch.store.suppressions import record_suppression_rows

_UNIQUE_BY_VALUE = {"opened": UNIQUE_OPEN, "clicked": UNIQUE_CLICK}
_SMALL = 1000  # events in a batch below which the bigger page cache is not set up
#: Stands for the batch's raw block id in the compiled INSERT (see EventWriter.write).
_BLOCK_ID_MARK = "-9100000000000000001"


@lru_cache(maxsize=4)
def _insert_with_block(dialect: str) -> sa.Insert:
    """The events INSERT with ``raw_block`` set to :data:`_BLOCK_ID_MARK`, built once per
    dialect so its compiled SQL is cached (``driver_executemany``)."""
    statement = upsert_insert(dialect, events).values(raw_block=sa.literal_column(_BLOCK_ID_MARK))
    return statement.on_conflict_do_nothing(index_elements=["provider", "event_id"])


_KEY_CHUNK = 1000  # ids per IN (...) lookup
#: (provider, message key, kind) → (Unix second, the same for the driver, sending domain,
#: mailbox provider).
_Markers = dict[tuple[str, str, str], tuple[int, Any, str, str]]


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
    conn: Connection,
    new_events: Iterable[Event],
    *,
    batch_size: int = BATCH_SIZE,
    series_cache: dict[Series, int] | None = None,
    prepared: Prepared | None = None,
) -> InsertResult:
    """Store ``new_events`` in the caller's transaction; returns how many were new.

    On SQLite open the transaction with ``begin_write(engine)`` (``BEGIN IMMEDIATE``).
    ``series_cache``: rollup series ids known to exist (committed), filled with those this
    call finds or creates; only reuse it across transactions that committed. ``prepared``:
    the rows of exactly ``new_events``, made before the transaction (:func:`prepare_rows`);
    used if the retention horizon is still the one they were made with.
    """
    writer = EventWriter(conn, series_cache)
    if prepared is not None:
        fresh = prepared.horizons == writer.horizons
        prepared.horizons = writer.horizons
        if fresh:
            return writer.write_all(prepared.batches)
    return writer.write_all(writer.rows.batches(new_events, batch_size))


@dataclass(slots=True)
class Prepared:
    """Rows made before the write transaction: the CPU part of storing events, done while
    another writer holds the store (see ``store.writer``). ``horizons``: those they were made
    with; after ``insert_events``, those of the store."""

    horizons: Horizons
    batches: list[Batch]


def prepare_rows(
    dialect: Dialect, horizons: Horizons, new_events: Iterable[Event], batch_size: int = BATCH_SIZE
) -> Prepared:
    tags = bind_processor(dialect, events.c.tags) or _same
    rows = RowMaker(horizons.events_from, time_to_driver(dialect), tags, compress=True)
    return Prepared(horizons, list(rows.batches(new_events, batch_size)))


class EventWriter:
    """The per-connection part of an ingest: stores prepared batches in the caller's
    transaction (see :func:`insert_events`)."""

    def __init__(self, conn: Connection, series_cache: dict[Series, int] | None = None) -> None:
        lock_store_for_writing(conn)
        self.conn = conn
        self.horizons = read_horizons(conn)
        self.rows = RowMaker(
            self.horizons.events_from,
            time_to_driver(conn),
            bind_processor(conn, events.c.tags) or _same,
        )
        self.time = self.rows.time
        self.insert = upsert_insert(conn, events).on_conflict_do_nothing(
            index_elements=["provider", "event_id"]
        )
        self.insert_with_block = _insert_with_block(conn.dialect.name)
        #: Rollup series ids met in this transaction (or known committed: ``series_cache``).
        self.series: dict[Series, int] = {} if series_cache is None else series_cache

    def write_all(self, batches: Iterable[Batch]) -> InsertResult:
        total = InsertResult()
        iterator = iter(batches)
        first = next(iterator, None)
        if first is None:
            return total
        if first.size < _SMALL:  # a webhook's group: not worth two PRAGMAs
            total = self.write(first)
            for batch in iterator:
                total += self.write(batch)
            return total
        with bulk_page_cache(self.conn):
            total = self.write(first)
            for batch in iterator:
                total += self.write(batch)
        return total

    def write(self, batch: Batch) -> InsertResult:
        """Store a prepared batch: the events, then for the new ones only the markers,
        suppressions and rollups."""
        rows = batch.rows
        last_id = self.conn.execute(sa.select(sa.func.max(events.c.id))).scalar() or 0
        insert: sa.Insert = self.insert
        block_id, literals = None, None
        if batch.raw_block is not None:
            last_at = datetime.fromtimestamp(batch.last_epoch, UTC)
            block_id = store_block(
                self.conn,
                batch.raw_block,
                batch.raw_items,
                last_at,
                compressed=batch.raw_compressed,
            )
            # The block id as a literal (an integer we made) put into SQL compiled once: no
            # second pass over the rows to add it, no compilation per batch.
            insert, literals = self.insert_with_block, {_BLOCK_ID_MARK: str(int(block_id))}
        stored = driver_insert_rows(self.conn, insert, EVENT_COLUMNS, rows, literals=literals)
        if not stored and block_id is not None:  # a retried batch: nothing refers to it
            self.conn.execute(sa.delete(event_raw_blocks).where(event_raw_blocks.c.id == block_id))
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
            for marker, epoch, second, domain, mailbox_provider in engagements.values():
                seen = markers.get(marker)
                if seen is None or epoch < seen[0]:
                    markers[marker] = (epoch, second, domain, mailbox_provider)
            _count_first_engagements(self.conn, markers, deltas)
            record_suppression_rows(
                self.conn,
                [
                    (recipient, domain, reason, at, at, 1, provider, event_id)
                    for (provider, event_id), (recipient, domain, reason, at) in suppressing.items()
                ],
            )
            add_to_rollups(self.conn, deltas, horizons=self.horizons, series_cache=self.series)
        return InsertResult(stored, batch.size - batch.expired - stored, batch.expired)


def _count_new(deltas: RollupDeltas, batch: Batch, fresh: set[tuple[str, str]]) -> None:
    """Count the rows of ``batch`` that were stored (``fresh``), each once: the slow path of
    ``write``, for batches that held events stored before (or twice)."""
    counted: set[tuple[str, str]] = set()
    for row in batch.rows:
        key = (row[0], row[1])
        if key not in fresh or key in counted:
            continue
        counted.add(key)
        # provider, type, mailbox provider, sending domain, bounce class: see EVENT_COLUMNS
        series = (row[7] or "", row[6], row[0], row[2], row[9] or "")
        deltas.add(series, minute_of(row[3]))


#: The events columns insert_events binds per row, in table order (id and received_at are
#: defaults, raw_block is the batch's; raw, the payload before migration 0009, stays NULL).
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
    "raw_index",
)


def _same(value: Any) -> Any:
    return value


def _existing_markers(
    conn: Connection, provider: str, kind: str, keys: list[str]
) -> Iterator[tuple[str, datetime, str, str]]:
    """The markers of ``keys`` stored already. Plain driver SQL: SQLAlchemy renders an
    expanding IN of a thousand keys in Python, per execution, at more cost than the query."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    # Only placeholders are formatted in; the keys are bound.
    placeholders = ", ".join([mark] * len(keys))
    sql = (
        "SELECT message_key, first_at, sending_domain, mailbox_provider"  # noqa: S608
        f" FROM first_engagements WHERE provider = {mark} AND kind = {mark}"
        f" AND message_key IN ({placeholders})"
    )
    for message_key, first_at, domain, mailbox_provider in conn.exec_driver_sql(
        sql, (provider, kind, *keys)
    ):
        if not isinstance(first_at, datetime):  # SQLite: SQLAlchemy's text format
            first_at = datetime.fromisoformat(first_at)
        yield message_key, first_at, domain, mailbox_provider


def _count_first_engagements(conn: Connection, markers: _Markers, deltas: RollupDeltas) -> None:
    """Count a unique open (click) for each message's earliest open (click) only.

    New markers count where they happened. A marker that exists already moves only when this
    batch holds an earlier event (events arrive out of order): its count moves with it, so the
    unique counter stays one per message, in the bucket of the first engagement.
    """
    if not markers:
        return
    table = first_engagements
    existing: dict[tuple[str, str, str], tuple[datetime, str, str]] = {}
    groups: dict[tuple[str, str], list[str]] = {}
    for provider, message_key, kind in markers:
        groups.setdefault((provider, kind), []).append(message_key)
    for (provider, kind), message_keys in groups.items():
        for start in range(0, len(message_keys), _KEY_CHUNK):
            chunk = message_keys[start : start + _KEY_CHUNK]
            for message_key, first_at, domain, mailbox_provider in _existing_markers(
                conn, provider, kind, chunk
            ):
                existing[(provider, message_key, kind)] = (first_at, domain, mailbox_provider)
    created = []
    moves = []
    counts = deltas.counts
    for key, (epoch, second, domain, mailbox_provider) in markers.items():
        provider, message_key, kind = key
        counter = _UNIQUE_BY_VALUE[kind]
        if (old := existing.get(key)) is None:  # the usual case: deltas.add, inline
            series = (domain, mailbox_provider, provider, counter, "")
            if (minutes := counts.get(series)) is None:
                minutes = counts[series] = {}
            minute = epoch - epoch % MINUTE
            minutes[minute] = minutes.get(minute, 0) + 1
            created.append((provider, message_key, kind, second, domain, mailbox_provider))
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
                "first_at": datetime.fromtimestamp(epoch, UTC),  # SQLAlchemy's own executemany
                "sending_domain": domain,
                "mailbox_provider": mailbox_provider,
            }
        )
    columns = ("provider", "message_key", "kind", "first_at", "sending_domain", "mailbox_provider")
    created.sort()  # in primary-key order: see the sort in rows.RowMaker.prepare
    driver_insert_rows(conn, sa.insert(table), columns, created)
    if moves:
        conn.execute(
            sa.update(table).where(
                table.c.provider == sa.bindparam("k_provider"),
                table.c.message_key == sa.bindparam("k_message_key"),
                table.c.kind == sa.bindparam("k_kind"),
            ),  # the SET clause is the rows' other keys: first_at and the two dimensions
            moves,
        )
