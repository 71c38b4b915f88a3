"""Rollups: event counts per (sending domain, mailbox provider, provider, event type, bounce
class) and per minute, hour and UTC day; and the retention that keeps the store bounded.

A rollup row is (series, bucket, count); a series is one combination of the five dimensions
(``rollup_series``), so rollup keys are two integers. Every increment is written to all three
granularities in the transaction that stores the events, not folded later: a window of 30 days
then reads about 30 day rows per series, not 43,200 minute rows, and compaction only has to
*delete* fine rows that coarser ones already hold, so it can never lose or double a count. An
ingest batch is counted in the database (a ``GROUP BY`` into a temporary table), so it costs
one upsert per distinct (series, bucket) with ``count = count + excluded.count``, not one per
event.

Besides the :class:`~deliverwatch.events.model.EventType` values, ``event_type`` holds two
derived counters, :data:`UNIQUE_OPEN` and :data:`UNIQUE_CLICK`: one per message, in the bucket
of its earliest open or click (kept right in ``events.py`` when events arrive out of order).
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from deliverwatch.store.engine import driver_executemany, lock_store_for_writing, upsert_insert
from deliverwatch.store.schema import (
    events,
    first_engagements,
    rollup_day,
    rollup_hour,
    rollup_minute,
    rollup_series,
    store_meta,
)

MINUTE = 60
HOUR = 3600
DAY = 86400
STEPS = {rollup_minute.name: MINUTE, rollup_hour.name: HOUR, rollup_day.name: DAY}

UNIQUE_OPEN = "unique_open"
UNIQUE_CLICK = "unique_click"

#: The dimensions of a series, in ``rollup_series`` column order.
SERIES_COLUMNS = ("sending_domain", "mailbox_provider", "provider", "event_type", "bounce_class")
Series = tuple[str, str, str, str, str]

# store_meta keys: the earliest instant each kind of data is complete from (Unix seconds).
EVENTS_FROM = "events_from"
MINUTE_ROLLUPS_FROM = "minute_rollups_from"
HOUR_ROLLUPS_FROM = "hour_rollups_from"
ROLLUPS_FROM = "rollups_from"


class RollupDeltas:
    """Rollup increments of one batch: per series, per minute bucket, summed in Python before
    they reach the database."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: dict[Series, defaultdict[int, int]] = {}

    def add(self, series: Series, at: int, n: int = 1) -> None:
        """Count ``n`` events of ``series`` at Unix second ``at``."""
        minutes = self.counts.get(series)
        if minutes is None:
            minutes = self.counts[series] = defaultdict(int)
        minutes[at - at % MINUTE] += n

    def __len__(self) -> int:
        return sum(len(minutes) for minutes in self.counts.values())


class epoch_seconds(FunctionElement[int]):
    """Whole Unix seconds of a ``DateTime`` column, in SQL: the SQLite text format and
    PostgreSQL's ``timestamptz`` need different spellings."""

    type = sa.BigInteger()
    inherit_cache = True


@compiles(epoch_seconds, "sqlite")
def _epoch_sqlite(element: epoch_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(strftime('%s', {compiler.process(element.clauses, **kw)}) AS INTEGER)"


@compiles(epoch_seconds, "postgresql")
def _epoch_postgresql(element: epoch_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    inner = compiler.process(element.clauses, **kw)
    return f"CAST(FLOOR(EXTRACT(EPOCH FROM {inner})) AS BIGINT)"


#: Per-transaction scratch space: one ingest batch's counts per (series, minute).
staged = sa.Table(
    "deliverwatch_staged_counts",
    sa.MetaData(),
    sa.Column("series_id", sa.BigInteger(), nullable=False),
    sa.Column("bucket", sa.BigInteger(), nullable=False),
    sa.Column("n", sa.BigInteger(), nullable=False),
    prefixes=["TEMPORARY"],
    postgresql_on_commit="DROP",
)


def add_to_rollups(
    conn: Connection,
    *,
    after_id: int | None = None,
    deltas: RollupDeltas | None = None,
    horizons: Horizons | None = None,
) -> None:
    """Add to the minute, hour and day rollups the events with ids above ``after_id`` (those
    this transaction just stored) and the increments in ``deltas`` (unique counters).

    The aggregation runs in the database: the batch is counted once per (series, minute) into
    a temporary table (one scan of the new events, joined to their series), and each rollup
    then gets one upsert per distinct (series, bucket) from it; no per-event work happens in
    Python. Minute (hour) buckets older than the minute (hour) horizon are skipped: compaction
    deleted those rollups, and ``stats`` reads that period from coarser ones.
    """
    staged.create(conn, checkfirst=True)
    conn.execute(sa.delete(staged))
    if after_id is not None:
        _stage_events(conn, after_id)
    if deltas is not None and deltas.counts:
        series = series_ids(conn, set(deltas.counts))
        rows = [
            (series[dims], minute, n)
            for dims, minutes in deltas.counts.items()
            for minute, n in minutes.items()
            if n
        ]
        driver_executemany(conn, sa.insert(staged), ("series_id", "bucket", "n"), rows)
    horizons = horizons or Horizons()
    for table, since in (
        (rollup_minute, horizons.minute_rollups_from),
        (rollup_hour, horizons.hour_rollups_from),
        (rollup_day, None),
    ):
        step = STEPS[table.name]
        bucket = (staged.c.bucket - staged.c.bucket % step).label("b")
        query = (
            sa.select(staged.c.series_id, bucket, sa.func.sum(staged.c.n))
            # SQLite needs a WHERE before ON CONFLICT in INSERT … SELECT (parsing ambiguity).
            .where(staged.c.bucket >= since if since is not None else sa.true())
            .group_by(staged.c.series_id, bucket)
        )
        stmt = upsert_insert(conn, table).from_select(["series_id", "bucket", "count"], query)
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["series_id", "bucket"],
                set_={"count": table.c["count"] + stmt.excluded["count"]},
            )
        )


def _stage_events(conn: Connection, after_id: int) -> None:
    e, s = events, rollup_series
    new = e.c.id > after_id
    dims = (
        sa.func.coalesce(e.c.sending_domain, ""),
        e.c.mailbox_provider,
        e.c.provider,
        e.c.type,
        sa.func.coalesce(e.c.bounce_class, ""),
    )
    create = upsert_insert(conn, s).from_select(
        list(SERIES_COLUMNS), sa.select(*dims).where(new).distinct()
    )
    conn.execute(create.on_conflict_do_nothing(index_elements=list(SERIES_COLUMNS)))
    epoch = epoch_seconds(e.c.occurred_at)
    minute = (epoch - epoch % MINUTE).label("b")
    joined = sa.and_(
        *(s.c[name] == value for name, value in zip(SERIES_COLUMNS, dims, strict=True))
    )
    query = (
        sa.select(s.c.id, minute, sa.func.count())
        .join_from(e, s, joined)
        .where(new)
        .group_by(s.c.id, minute)
    )
    conn.execute(sa.insert(staged).from_select(["series_id", "bucket", "n"], query))


def series_ids(conn: Connection, wanted: set[Series]) -> dict[Series, int]:
    """The ids of ``wanted`` series, creating the missing ones (under the store lock)."""
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
    for dims in sorted(wanted - found.keys()):
        values = {name: str(value) for name, value in zip(SERIES_COLUMNS, dims, strict=True)}
        created = conn.execute(sa.insert(table).values(values)).inserted_primary_key
        assert created is not None
        found[dims] = int(created[0])
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

    def to_dict(self) -> dict[str, int]:
        return {
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
