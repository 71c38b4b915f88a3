"""Sending rates over a time window, read from the rollups (never from raw events).

A window ``[since, until)`` counts every minute bucket it overlaps (``since`` is rounded down
and ``until`` up to whole minutes). It is split into whole UTC days read from the day rollups,
whole hours at its edges from the hour rollups and the remaining minutes from the minute
rollups, so a 30-day window reads about 30 rows per key whatever the event volume. Where
compaction has already removed minute (hour) rollups, the edge falls back to whole hours
(days), and the window reported in each row says what was actually counted.

Denominators (see docs/store.md):

* ``sent`` = per provider, the larger of its ``sent`` events and ``delivered + bounces``, summed
  over providers (some ESPs report no send event; a drop is not a send);
* ``bounce_rate`` and ``hard_bounce_rate`` are per ``sent``;
* ``complaint_rate``, ``open_rate``, ``click_rate`` and ``unsubscribe_rate`` are per
  ``delivered`` (only delivered mail can be complained about, opened or clicked).

Each rate carries a 95% Wilson score interval, which stays inside [0, 1] and is honest for
small counts (0 complaints out of 50 is not "0%, certainly").
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from deliverwatch.clock import epoch_ceil, epoch_floor
from deliverwatch.events.model import BounceClass, EventType
from deliverwatch.store.rollups import (
    DAY,
    HOUR,
    MINUTE,
    UNIQUE_CLICK,
    UNIQUE_OPEN,
    Horizons,
    read_horizons,
)
from deliverwatch.store.schema import rollup_day, rollup_hour, rollup_minute, rollup_series

By = Literal["mailbox-provider", "provider", "day"]
BY_VALUES: tuple[By, ...] = ("mailbox-provider", "provider", "day")

#: The standard normal quantile for a two-sided 95% interval.
Z95 = 1.959963984540054

_TABLES = {MINUTE: rollup_minute, HOUR: rollup_hour, DAY: rollup_day}


@dataclass(frozen=True, slots=True)
class Rate:
    """``numerator / denominator`` with its 95% Wilson score interval; all None when the
    denominator is 0. ``value`` is capped at 1 when the numerator is larger (complaints in the
    window about mail delivered before it)."""

    value: float | None
    low: float | None
    high: float | None
    numerator: int
    denominator: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "low": self.low,
            "high": self.high,
            "numerator": self.numerator,
            "denominator": self.denominator,
        }


def wilson(numerator: int, denominator: int, z: float = Z95) -> Rate:
    """The Wilson score interval (Wilson 1927; Newcombe 1998, method 3, no continuity
    correction) of a proportion."""
    if denominator <= 0:
        return Rate(None, None, None, numerator, denominator)
    n = denominator
    k = min(max(numerator, 0), n)
    p = k / n
    z2 = z * z
    scale = 1 + z2 / n
    centre = (p + z2 / (2 * n)) / scale
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / scale
    low = 0.0 if k == 0 else max(0.0, centre - half)  # exact at the ends, not 1e-17 off
    high = 1.0 if k == n else min(1.0, centre + half)
    return Rate(p, low, high, numerator, denominator)


@dataclass(frozen=True, slots=True)
class StatsRow:
    """Counts and rates of one group (a mailbox provider, an ESP, a UTC day, or everything).

    ``since``/``until`` is the window actually counted (after rounding to the rollups).
    ``bounces`` counts every bounce; ``soft_bounces`` includes ``mailbox_full``, and bounces of
    an undetermined class are only in ``bounces``.
    """

    group: str | None
    since: datetime
    until: datetime
    sent: int = 0
    sent_events: int = 0
    delivered: int = 0
    bounces: int = 0
    hard_bounces: int = 0
    soft_bounces: int = 0
    block_bounces: int = 0
    deferred: int = 0
    dropped: int = 0
    complaints: int = 0
    opens: int = 0
    clicks: int = 0
    unique_opens: int = 0
    unique_clicks: int = 0
    unsubscribes: int = 0
    rates: dict[str, Rate] = field(default_factory=dict)

    COUNTS = (
        "sent",
        "sent_events",
        "delivered",
        "bounces",
        "hard_bounces",
        "soft_bounces",
        "block_bounces",
        "deferred",
        "dropped",
        "complaints",
        "opens",
        "clicks",
        "unique_opens",
        "unique_clicks",
        "unsubscribes",
    )

    @property
    def bounce_rate(self) -> Rate:
        return self.rates["bounce_rate"]

    @property
    def hard_bounce_rate(self) -> Rate:
        return self.rates["hard_bounce_rate"]

    @property
    def complaint_rate(self) -> Rate:
        return self.rates["complaint_rate"]

    @property
    def open_rate(self) -> Rate:
        return self.rates["open_rate"]

    @property
    def click_rate(self) -> Rate:
        return self.rates["click_rate"]

    @property
    def unsubscribe_rate(self) -> Rate:
        return self.rates["unsubscribe_rate"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "since": _iso(self.since),
            "until": _iso(self.until),
            "counts": {name: getattr(self, name) for name in self.COUNTS},
            "rates": {name: rate.to_dict() for name, rate in self.rates.items()},
        }


#: rate name → (numerator count, denominator count)
RATES: dict[str, tuple[str, str]] = {
    "bounce_rate": ("bounces", "sent"),
    "hard_bounce_rate": ("hard_bounces", "sent"),
    "complaint_rate": ("complaints", "delivered"),
    "open_rate": ("unique_opens", "delivered"),
    "click_rate": ("unique_clicks", "delivered"),
    "unsubscribe_rate": ("unsubscribes", "delivered"),
}


@dataclass(frozen=True, slots=True)
class WindowPlan:
    """Which bucket ranges of which rollup cover a window (Unix seconds, half-open)."""

    since: int
    until: int
    ranges: dict[int, list[tuple[int, int]]]  # step (60, 3600, 86400) → [(start, end), ...]


def plan_window(since: int, until: int, horizons: Horizons | None = None) -> WindowPlan:
    """Split ``[since, until)`` into whole days, hours at the edges, minutes at the very edges,
    widening an edge to the hour (day) where minute (hour) rollups were compacted away."""
    horizons = horizons or Horizons()
    start, end = _floor(since, MINUTE), _ceil(until, MINUTE)
    minute_from, hour_from = horizons.minute_rollups_from, horizons.hour_rollups_from
    if minute_from is not None:
        if start < minute_from:
            start = _floor(start, HOUR)
        if _floor(end, HOUR) < minute_from:
            end = _ceil(end, HOUR)
    if hour_from is not None:
        if start < hour_from:
            start = _floor(start, DAY)
        if _floor(end, DAY) < hour_from:
            end = _ceil(end, DAY)
    ranges: dict[int, list[tuple[int, int]]] = {MINUTE: [], HOUR: [], DAY: []}
    first_day, last_day = _ceil(start, DAY), _floor(end, DAY)
    if first_day < last_day:
        ranges[DAY].append((first_day, last_day))
        rests = [(start, first_day), (last_day, end)]
    else:
        rests = [(start, end)]
    for low, high in rests:
        first_hour, last_hour = _ceil(low, HOUR), _floor(high, HOUR)
        if first_hour < last_hour:
            ranges[HOUR].append((first_hour, last_hour))
            ranges[MINUTE] += [(low, first_hour), (last_hour, high)]
        else:
            ranges[MINUTE].append((low, high))
    return WindowPlan(
        start, end, {step: [(a, b) for a, b in spans if a < b] for step, spans in ranges.items()}
    )


def stats(
    conn: Connection,
    *,
    domain: str | None,
    since: datetime,
    until: datetime,
    by: By | None = None,
) -> list[StatsRow]:
    """Counts and rates of ``domain`` (every domain when None) in ``[since, until)``, as one
    row, or one row per mailbox provider, ESP or UTC day with any events (in key order)."""
    if since.tzinfo is None or until.tzinfo is None:
        raise ValueError("since and until must be timezone-aware")
    if until <= since:
        raise ValueError("until must be after since")
    if by is not None and by not in BY_VALUES:
        raise ValueError(f"by must be one of {', '.join(BY_VALUES)}")
    plan = plan_window(epoch_floor(since), epoch_ceil(until), read_horizons(conn))
    totals = _query(conn, plan, domain, by)
    window = (_datetime(plan.since), _datetime(plan.until))
    if by is None:
        return [_row(None, window, totals.get(None, {}))]
    rows = []
    for key in sorted(totals):
        if by == "day":
            day = int(key)
            name = _datetime(day).date().isoformat()
            row_window = (_datetime(max(day, plan.since)), _datetime(min(day + DAY, plan.until)))
        else:
            name, row_window = str(key), window
        rows.append(_row(name, row_window, totals[key]))
    return rows


#: group (None, a name, or a day's Unix second) → provider → (event type, bounce class) → count
_Totals = dict[Any, dict[str, Counter[tuple[str, str]]]]


def _query(conn: Connection, plan: WindowPlan, domain: str | None, by: By | None) -> _Totals:
    """One ``UNION ALL`` of a grouped sum per bucket range: each part scans the key range
    (series, bucket) of every series of the domain, so the cost follows the number of series
    and buckets read, never the number of events."""
    series = rollup_series
    selects = []
    for step, spans in plan.ranges.items():
        table = _TABLES[step]
        group: sa.ColumnElement[Any]
        if by == "mailbox-provider":
            group = series.c.mailbox_provider
        elif by == "provider":
            group = series.c.provider
        elif by == "day":
            group = table.c.bucket - table.c.bucket % DAY
        else:
            group = sa.literal("")
        for start, end in spans:
            query = (
                sa.select(
                    group.label("grp"),
                    series.c.provider,
                    series.c.event_type,
                    series.c.bounce_class,
                    sa.func.sum(table.c["count"]).label("n"),
                )
                .join_from(series, table, table.c.series_id == series.c.id)
                .where(table.c.bucket >= start, table.c.bucket < end)
            )
            if domain is not None:
                query = query.where(series.c.sending_domain == domain.strip().rstrip(".").lower())
            selects.append(
                query.group_by(group, series.c.provider, series.c.event_type, series.c.bounce_class)
            )
    totals: _Totals = defaultdict(lambda: defaultdict(Counter))
    if not selects:
        return totals
    for grp, provider, event_type, bounce_class, n in conn.execute(sa.union_all(*selects)):
        key = None if by is None else int(grp) if by == "day" else str(grp)
        totals[key][provider][(event_type, bounce_class)] += int(n)
    return totals


def _row(
    group: str | None,
    window: tuple[datetime, datetime],
    by_provider: dict[str, Counter[tuple[str, str]]],
) -> StatsRow:
    counts: Counter[str] = Counter()
    for per_type in by_provider.values():
        types: Counter[str] = Counter()
        for (event_type, bounce_class), n in per_type.items():
            types[event_type] += n
            if event_type == EventType.BOUNCED:
                counts[_bounce_count(bounce_class)] += n
        counts["sent_events"] += types[EventType.SENT]
        counts["sent"] += max(
            types[EventType.SENT], types[EventType.DELIVERED] + types[EventType.BOUNCED]
        )
        counts["delivered"] += types[EventType.DELIVERED]
        counts["bounces"] += types[EventType.BOUNCED]
        counts["deferred"] += types[EventType.DEFERRED]
        counts["dropped"] += types[EventType.DROPPED]
        counts["complaints"] += types[EventType.COMPLAINED]
        counts["opens"] += types[EventType.OPENED]
        counts["clicks"] += types[EventType.CLICKED]
        counts["unique_opens"] += types[UNIQUE_OPEN]
        counts["unique_clicks"] += types[UNIQUE_CLICK]
        counts["unsubscribes"] += types[EventType.UNSUBSCRIBED]
    rates = {name: wilson(counts[num], counts[den]) for name, (num, den) in RATES.items()}
    values = {name: counts[name] for name in StatsRow.COUNTS}
    return StatsRow(group, window[0], window[1], rates=rates, **values)


def _bounce_count(bounce_class: str) -> str:
    if bounce_class == BounceClass.HARD:
        return "hard_bounces"
    if bounce_class in (BounceClass.SOFT, BounceClass.MAILBOX_FULL):
        return "soft_bounces"
    if bounce_class == BounceClass.BLOCK:
        return "block_bounces"
    return "undetermined_bounces"


def _floor(value: int, step: int) -> int:
    return value - value % step


def _ceil(value: int, step: int) -> int:
    return -(-value // step) * step


def _datetime(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
