"""Rollups: event counts per (sending domain, mailbox provider, provider, event type, bounce
class) and per minute, hour and UTC day; and the retention that keeps the store bounded.

A rollup row is (series, bucket, count); a series is one combination of the five dimensions
(``rollup_series``), so rollup keys are two integers. Every increment is written to all three
granularities in the transaction that stores the events, not folded later: a window of 30 days
then reads about 30 day rows per series, not 43,200 minute rows, and compaction only has to
*delete* fine rows that coarser ones already hold, so it can never lose or double a count. An
ingest batch is counted in Python as its rows are built (one dict increment per event, on
values already in hand), so the database gets one upsert per distinct (series, bucket) with
``count = count + excluded.count``, and never reads the new events back.

Besides the :class:`~deliverwatch.events.model.EventType` values, ``event_type`` holds two
derived counters, :data:`UNIQUE_OPEN` and :data:`UNIQUE_CLICK`: one per message, in the bucket
of its earliest open or click (kept right in ``events.py`` when events arrive out of order).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection

from deliverwatch.events.rows import MINUTE as MINUTE  # one definition, re-exported
from deliverwatch.events.rows import Series as Series
from deliverwatch.store.engine import driver_executemany, lock_store_for_writing, upsert_insert
from deliverwatch.store.schema import (
    ROLLUP_TABLES,
    event_raw_blocks,
    events,
    first_engagements,
    rollup_day,
    rollup_hour,
    rollup_minute,
    rollup_series,
    store_meta,
)

HOUR = 3600
DAY = 86400
STEPS = {rollup_minute.name: MINUTE, rollup_hour.name: HOUR, rollup_day.name: DAY}

UNIQUE_OPEN = "unique_open"
UNIQUE_CLICK = "unique_click"

#: The dimensions of a series, in ``rollup_series`` column order.
SERIES_COLUMNS = ("sending_domain", "mailbox_provider", "provider", "event_type", "bounce_class")

# store_meta keys: the earliest instant each kind of data is complete from (Unix seconds).
EVENTS_FROM = "events_from"
MINUTE_ROLLUPS_FROM = "minute_rollups_from"
HOUR_ROLLUPS_FROM = "hour_rollups_from"
ROLLUPS_FROM = "rollups_from"


class RollupDeltas:
    """Rollup increments: per series, per minute bucket, summed in Python before they reach
    the database."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        #: series → minute bucket (Unix second) → count. ``insert_events`` fills it inline.
        self.counts: dict[Series, dict[int, int]] = {}

    def add(self, series: Series, at: int, n: int = 1) -> None:
        """Count ``n`` events of ``series`` at Unix second ``at``."""
        minutes = self.counts.get(series)
        if minutes is None:
            minutes = self.counts[series] = {}
        minute = at - at % MINUTE
        minutes[minute] = minutes.get(minute, 0) + n

    def __len__(self) -> int:
        return sum(len(minutes) for minutes in self.counts.values())


def add_to_rollups(
    conn: Connection,
    deltas: RollupDeltas,
    *,
    horizons: Horizons | None = None,
    series_cache: dict[Series, int] | None = None,
) -> None:
    """Add ``deltas`` to the minute, hour and day rollups.

    The minutes are folded into hours and days here, and each rollup gets one
    ``executemany`` of upserts (``count = count + excluded.count``), one row per distinct
    (series, bucket), in key order (B-tree locality). Minute (hour) buckets older than the
    minute (hour) horizon are skipped: compaction deleted those rollups, and ``stats`` reads
    that period from coarser ones. ``series_cache`` keeps series ids across calls of one
    transaction.
    """
    if not deltas.counts:
        return
    horizons = horizons or Horizons()
    cache = {} if series_cache is None else series_cache
    if missing := deltas.counts.keys() - cache.keys():
        cache.update(series_ids(conn, set(missing)))
    minute_from = horizons.minute_rollups_from or 0
    hour_from = horizons.hour_rollups_from or 0
    minute_rows: list[tuple[int, int, int]] = []
    hour_rows: list[tuple[int, int, int]] = []
    day_rows: list[tuple[int, int, int]] = []
    for series_id, minutes in sorted(
        (cache[dims], minutes) for dims, minutes in deltas.counts.items()
    ):
        hours: dict[int, int] = {}
        days: dict[int, int] = {}
        for minute in sorted(minutes):  # key order: the upserts walk each B-tree once
            if n := minutes[minute]:
                if minute >= minute_from:
                    minute_rows.append((series_id, minute, n))
                if minute >= hour_from:
                    hour = minute - minute % HOUR
                    hours[hour] = hours.get(hour, 0) + n
                day = minute - minute % DAY
                days[day] = days.get(day, 0) + n
        hour_rows += [(series_id, hour, n) for hour, n in hours.items() if n]
        day_rows += [(series_id, day, n) for day, n in days.items() if n]
    for table, rows in (
        (rollup_minute, minute_rows),
        (rollup_hour, hour_rows),
        (rollup_day, day_rows),
    ):
        upsert = _count_upsert(conn.dialect.name, table.name)
        driver_executemany(conn, upsert, ("series_id", "bucket", "count"), rows)


@lru_cache(maxsize=8)  # the same statement object each time: it is compiled once
def _count_upsert(dialect: str, table_name: str) -> sa.Insert:
    """``INSERT … ON CONFLICT (series_id, bucket) DO UPDATE SET count = count + excluded``."""
    table = {t.name: t for t in ROLLUP_TABLES}[table_name]
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    return stmt.on_conflict_do_update(
        index_elements=["series_id", "bucket"],
        set_={"count": table.c["count"] + stmt.excluded["count"]},
    )


def series_ids(conn: Connection, wanted: set[Series]) -> dict[Series, int]:
    """The ids of ``wanted`` series, creating the missing ones (under the store lock)."""
    found = _find_series(conn, wanted)
    if missing := wanted - found.keys():
        rows = [tuple(str(value) for value in dims) for dims in sorted(missing)]
        driver_executemany(conn, _INSERT_SERIES, SERIES_COLUMNS, rows)
        found.update(_find_series(conn, missing))
    return found


_INSERT_SERIES = sa.insert(rollup_series)


def _find_series(conn: Connection, wanted: set[Series]) -> dict[Series, int]:
    table = rollup_series
    found: dict[Series, int] = {}
    domains = sorted({dims[0] for dims in wanted})
    for start in range(0, len(domains), 500):
        query = sa.select(table.c.id, *(table.c[name] for name in SERIES_COLUMNS)).where(
            table.c.sending_domain.in_(domains[start : start + 500])
        )
        for series_id, domain, mailbox_provider, provider, event_type, bounce_class in conn.execute(
            query
        ):
            key = (domain, mailbox_provider, provider, event_type, bounce_class)
            if key in wanted:
                found[key] = series_id
    return found


@dataclass(frozen=True, slots=True)
class Horizons:
    """How far back each kind of data is complete (Unix seconds; None: never compacted)."""

    events_from: int | None = None
    minute_rollups_from: int | None = None
    hour_rollups_from: int | None = None
    rollups_from: int | None = None


def read_horizons(conn: Connection) -> Horizons:
    values = {
        key: value for key, value in conn.execute(sa.select(store_meta.c.key, store_meta.c.value))
    }

    def get(key: str) -> int | None:
        return int(values[key]) if key in values else None

    return Horizons(
        events_from=get(EVENTS_FROM),
        minute_rollups_from=get(MINUTE_ROLLUPS_FROM),
        hour_rollups_from=get(HOUR_ROLLUPS_FROM),
        rollups_from=get(ROLLUPS_FROM),
    )


@dataclass(frozen=True, slots=True)
class CompactResult:
    events_deleted: int
    engagements_deleted: int
    minute_rows_deleted: int
    hour_rows_deleted: int
    day_rows_deleted: int
    raw_blocks_deleted: int = 0

    def to_dict(self) -> dict[str, int]:
        return {
            "raw_blocks_deleted": self.raw_blocks_deleted,
            "events_deleted": self.events_deleted,
            "engagements_deleted": self.engagements_deleted,
            "minute_rows_deleted": self.minute_rows_deleted,
            "hour_rows_deleted": self.hour_rows_deleted,
            "day_rows_deleted": self.day_rows_deleted,
        }


def compact(
    conn: Connection,
    *,
    now: datetime | None = None,
    raw_events_days: int = 30,
    minute_rollup_days: int = 7,
    hour_rollup_days: int = 90,
    rollup_months: int = 13,
) -> CompactResult:
    """Apply retention (the keywords are the ``retention:`` config keys; pass
    ``**config.retention.model_dump()``).

    * raw events (and first-open/click markers) older than ``raw_events_days`` are deleted, and
      later arrivals older than that are refused by ``insert_events`` (they could be duplicates
      of deleted events, which would count twice);
    * minute rollups older than ``minute_rollup_days`` (whole hours) and hour rollups older than
      ``hour_rollup_days`` (whole UTC days) are deleted: the coarser rollups already hold them;
    * all rollups older than ``rollup_months`` calendar months (whole days) are deleted.

    The horizons are recorded in ``store_meta`` and only move forward; ``stats`` reads them to
    resolve windows that reach past the minute or hour rollups at the next coarser granularity.
    Run it in a write transaction (``begin_write``); it is idempotent.
    """
    now = (now or datetime.now(UTC)).astimezone(UTC)
    lock_store_for_writing(conn)
    if not 0 < minute_rollup_days <= hour_rollup_days or raw_events_days < 1 or rollup_months < 1:
        raise ValueError(
            "retention periods must be positive, minute_rollup_days <= hour_rollup_days"
        )
    current = read_horizons(conn)
    epoch = int(now.timestamp())
    events_from = _later(current.events_from, epoch - raw_events_days * DAY)
    minute_from = _later(
        current.minute_rollups_from, _floor(epoch - minute_rollup_days * DAY, HOUR)
    )
    hour_from = _later(current.hour_rollups_from, _floor(epoch - hour_rollup_days * DAY, DAY))
    rollups_from = _later(
        current.rollups_from, _floor(int(_months_before(now, rollup_months).timestamp()), DAY)
    )
    events_cutoff = datetime.fromtimestamp(events_from, UTC)
    deleted_events = conn.execute(sa.delete(events).where(events.c.occurred_at < events_cutoff))
    # A block goes with its newest event: every event pointing into it is older than that.
    deleted_blocks = conn.execute(
        sa.delete(event_raw_blocks).where(event_raw_blocks.c.last_at < events_cutoff)
    )
    deleted_markers = conn.execute(
        sa.delete(first_engagements).where(first_engagements.c.first_at < events_cutoff)
    )
    deleted = {}
    all_series = list(conn.execute(sa.select(rollup_series.c.id)).scalars())
    for table, cutoff in (
        (rollup_minute, max(minute_from, rollups_from)),
        (rollup_hour, max(hour_from, rollups_from)),
        (rollup_day, rollups_from),
    ):
        # One key-range delete per series: the rollups have no bucket index (see schema.py).
        delete = sa.delete(table).where(
            table.c.series_id == sa.bindparam("sid"), table.c.bucket < sa.bindparam("cutoff")
        )
        rows = [(series_id, cutoff) for series_id in all_series]
        deleted[table.name] = driver_executemany(conn, delete, ("sid", "cutoff"), rows)
    for key, value in (
        (EVENTS_FROM, events_from),
        (MINUTE_ROLLUPS_FROM, minute_from),
        (HOUR_ROLLUPS_FROM, hour_from),
        (ROLLUPS_FROM, rollups_from),
    ):
        stmt = upsert_insert(conn, store_meta).values(key=key, value=str(value))
        conn.execute(stmt.on_conflict_do_update(index_elements=["key"], set_={"value": str(value)}))
    return CompactResult(
        events_deleted=deleted_events.rowcount,
        engagements_deleted=deleted_markers.rowcount,
        minute_rows_deleted=deleted[rollup_minute.name],
        hour_rows_deleted=deleted[rollup_hour.name],
        day_rows_deleted=deleted[rollup_day.name],
        raw_blocks_deleted=deleted_blocks.rowcount,
    )


def _floor(value: int, step: int) -> int:
    return value - value % step


def _later(current: int | None, proposed: int) -> int:
    return proposed if current is None else max(current, proposed)


def _months_before(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 - months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def utc_epoch(moment: datetime) -> int:
    """Unix seconds of ``moment``; a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())
