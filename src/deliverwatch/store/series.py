"""Rates as time series, read from the rollups (never from raw events): what the dashboard
draws and the API returns.

A series has buckets of one ``step`` (an hour, six hours, a day…) aligned to the UTC epoch.
Each bucket is read from the coarsest rollup that holds it whole: the day rollups for steps
that are whole days, the hour rollups for whole hours, the minute rollups otherwise. Where
compaction has removed the finer rollups for the start of the window, the step is widened
to the next granularity still kept, so a chart never shows a hole that is not in the data.

Counts per bucket follow :mod:`deliverwatch.store.stats`'s definitions (``sent`` per ESP is
the larger of its send events and delivered + bounced; rates are capped at 1), so a chart
and a ``stats`` table over the same span agree; the per-bucket sums are made by the
database, one row per ESP and bucket.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from deliverwatch.clock import epoch_ceil, epoch_floor
from deliverwatch.store.rollups import DAY, HOUR, MINUTE, read_horizons
from deliverwatch.store.schema import (
    dmarc_reports,
    dmarc_rollup_day,
    rollup_day,
    rollup_hour,
    rollup_minute,
    rollup_series,
)

SeriesBy = Literal["mailbox-provider"]
_TABLES = {MINUTE: rollup_minute, HOUR: rollup_hour, DAY: rollup_day}


@dataclass(frozen=True, slots=True)
class Buckets:
    """Bucket starts ``since, since + step, …`` up to ``until`` (Unix seconds)."""

    since: int
    until: int
    step: int

    @property
    def starts(self) -> list[int]:
        return list(range(self.since, self.until, self.step))


def align(now: datetime, span: int, step: int) -> Buckets:
    """The ``span // step`` buckets of ``step`` seconds ending with the one holding ``now``."""
    epoch = int(now.timestamp())
    until = epoch - epoch % step + step
    count = max(1, span // step)
    return Buckets(until - count * step, until, step)


def fit_to_rollups(conn: Connection, buckets: Buckets) -> Buckets:
    """``buckets``, with the step widened where the finer rollups were compacted away."""
    horizons = read_horizons(conn)
    step = buckets.step
    if step % HOUR and (horizons.minute_rollups_from or 0) > buckets.since:
        step = _ceil(step, HOUR)
    if step % DAY and (horizons.hour_rollups_from or 0) > buckets.since:
        step = _ceil(step, DAY)
    if step == buckets.step:
        return buckets
    since = buckets.since - buckets.since % step
    until = _ceil(buckets.until, step)
    return Buckets(since, until, step)


#: rate name → (numerator, denominator) in a :class:`Tally`; the same definitions as
#: ``stats.RATES``, plus deferrals per message sent.
RATE_PARTS: dict[str, tuple[str, str]] = {
    "bounce_rate": ("bounces", "sent"),
    "hard_bounce_rate": ("hard_bounces", "sent"),
    "complaint_rate": ("complaints", "delivered"),
    "deferral_rate": ("deferred", "sent"),
    "open_rate": ("unique_opens", "delivered"),
    "click_rate": ("unique_clicks", "delivered"),
}
#: Tally field → (event type, bounce class or None for any)
TALLIED: dict[str, tuple[str, str | None]] = {
    "sent_events": ("sent", None),
    "delivered": ("delivered", None),
    "bounces": ("bounced", None),
    "hard_bounces": ("bounced", "hard"),
    "deferred": ("deferred", None),
    "complaints": ("complained", None),
    "unique_opens": ("unique_open", None),
    "unique_clicks": ("unique_click", None),
}
#: The event types a tally reads.
TALLY_TYPES = sorted({event_type for event_type, _ in TALLIED.values()})

#: (domain, group or None) → bucket start → ESP → counts in :data:`TALLIED` order
EspTallies = dict[tuple[str, str | None], dict[int, dict[str, tuple[int, ...]]]]


def esp_tallies(
    conn: Connection,
    buckets: Buckets,
    *,
    domains: Sequence[str] | None = None,
    by: SeriesBy | None = None,
) -> EspTallies:
    """What chart points need, summed by the database per (domain, mailbox provider when
    ``by``, bucket, ESP): one row per ESP and bucket instead of one per event type and
    bounce class, so a page of 100 domains reads a few thousand rows. Combine the ESPs of
    a bucket (or of several groups) with :func:`combine`."""
    step = buckets.step
    grain = DAY if step % DAY == 0 else HOUR if step % HOUR == 0 else MINUTE
    table = _TABLES[grain]
    series = rollup_series
    group: sa.ColumnElement[Any] = (
        series.c.mailbox_provider if by == "mailbox-provider" else sa.literal("")
    )
    bucket = table.c.bucket - table.c.bucket % step if step != grain else table.c.bucket
    count = table.c["count"]
    sums = []
    for event_type, bounce_class in TALLIED.values():
        condition = series.c.event_type == event_type
        if bounce_class is not None:
            condition = sa.and_(condition, series.c.bounce_class == bounce_class)
        sums.append(sa.func.sum(sa.case((condition, count), else_=0)))
    query = (
        sa.select(series.c.sending_domain, group, bucket, series.c.provider, *sums)
        .join_from(series, table, table.c.series_id == series.c.id)
        .where(
            table.c.bucket >= buckets.since,
            table.c.bucket < buckets.until,
            series.c.event_type.in_(TALLY_TYPES),
        )
        .group_by(series.c.sending_domain, group, bucket, series.c.provider)
    )
    if domains is not None:
        query = query.where(series.c.sending_domain.in_(sorted({_domain(d) for d in domains})))
    else:
        query = query.where(series.c.sending_domain != "")
    result: EspTallies = {}
    for domain, grp, start, provider, *values in conn.execute(query):
        per_bucket = result.setdefault((domain, str(grp) if by else None), {})
        per_bucket.setdefault(int(start), {})[provider] = tuple(int(v or 0) for v in values)
    return result


class Tally(NamedTuple):
    """Counts of one bucket; ``sent`` as ``stats`` counts it (per ESP, the larger of its send
    events and delivered + bounced). A tuple: a page builds thousands."""

    sent: int
    delivered: int
    bounces: int
    hard_bounces: int
    deferred: int
    complaints: int
    unique_opens: int
    unique_clicks: int

    def rate(self, name: str) -> tuple[float | None, int, int]:
        """(value, numerator, denominator) of a :data:`RATE_PARTS` rate; the value is capped
        at 1 as ``stats.wilson`` caps it."""
        top, bottom = _RATE_INDEX[name]
        numerator, denominator = self[top], self[bottom]
        value = min(numerator, denominator) / denominator if denominator else None
        return value, numerator, denominator


_RATE_INDEX = {
    name: (Tally._fields.index(top), Tally._fields.index(bottom))
    for name, (top, bottom) in RATE_PARTS.items()
}


def combine(parts: Iterable[dict[str, tuple[int, ...]]]) -> Tally:
    """One tally of several ESP breakdowns (buckets, or mailbox providers of a bucket)."""
    parts = list(parts)
    if len(parts) == 1 and len(parts[0]) == 1:  # the common case: one bucket, one ESP
        (values,) = parts[0].values()
        return Tally(max(values[0], values[1] + values[2]), *values[1:])
    per_esp: dict[str, list[int]] = {}
    for part in parts:
        for esp, values in part.items():
            found = per_esp.get(esp)
            if found is None:
                per_esp[esp] = list(values)
            else:
                for index, value in enumerate(values):
                    found[index] += value
    total = [0] * len(TALLIED)
    sent = 0
    for summed in per_esp.values():
        for index, value in enumerate(summed):
            total[index] += value
        sent += max(summed[0], summed[1] + summed[2])  # sent_events, delivered + bounces
    return Tally(sent, *total[1:])


def sending_domains(conn: Connection) -> list[str]:
    """Every sending domain with events in the rollups (from the series table: one row per
    dimension combination, not per event)."""
    column = rollup_series.c.sending_domain
    query = sa.select(column).where(column != "").distinct()
    return sorted(str(domain) for domain in conn.execute(query).scalars())


@dataclass(frozen=True, slots=True)
class DmarcDay:
    day: int  # Unix seconds of the UTC midnight
    messages: int
    passed: int


def dmarc_days(conn: Connection, domain: str, since: datetime, until: datetime) -> list[DmarcDay]:
    """Messages and DMARC passes per UTC day with ``domain`` as the header From (exactly:
    the sending domain's own mail, read by the day rollup's leading key)."""
    table = dmarc_rollup_day
    passed = sa.func.sum(sa.case((table.c.dmarc_pass, table.c["count"]), else_=0))
    query = (
        sa.select(table.c.day, sa.func.sum(table.c["count"]), passed)
        .where(*_dmarc_window(domain, since, until))
        .group_by(table.c.day)
        .order_by(table.c.day)
    )
    return [DmarcDay(int(day), int(n or 0), int(p or 0)) for day, n, p in conn.execute(query)]


@dataclass(frozen=True, slots=True)
class DmarcSource:
    """One sending IP's messages with ``domain`` as the header From."""

    source_ip: str
    messages: int
    passed: int
    dkim_aligned: int
    spf_aligned: int
    reporters: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "source_ip": self.source_ip,
            "messages": self.messages,
            "dmarc_pass": self.passed,
            "dkim_aligned": self.dkim_aligned,
            "spf_aligned": self.spf_aligned,
            "pass_rate": self.passed / self.messages if self.messages else None,
            "reporters": self.reporters,
        }


def dmarc_sources(
    conn: Connection, domain: str, since: datetime, until: datetime, *, limit: int = 50
) -> tuple[list[DmarcSource], int]:
    """The ``limit`` sources sending the most messages as ``domain`` in the UTC days the
    window touches, and how many sources there are in all."""
    table = dmarc_rollup_day
    count = table.c["count"]

    def when(flag: sa.ColumnElement[bool]) -> sa.ColumnElement[Any]:
        return sa.func.sum(sa.case((flag, count), else_=0))

    query = (
        sa.select(
            table.c.source_ip,
            sa.func.sum(count),
            when(table.c.dmarc_pass),
            when(table.c.dkim_aligned),
            when(table.c.spf_aligned),
            sa.func.count(sa.distinct(table.c.reporter)),
        )
        .where(*_dmarc_window(domain, since, until))
        .group_by(table.c.source_ip)
    )
    sources = [
        DmarcSource(str(ip), int(n or 0), int(p or 0), int(d or 0), int(s or 0), int(r))
        for ip, n, p, d, s, r in conn.execute(query)
        if n
    ]
    sources.sort(key=lambda s: (-s.messages, s.source_ip))
    return sources[:limit], len(sources)


def _dmarc_window(domain: str, since: datetime, until: datetime) -> list[sa.ColumnElement[bool]]:
    table = dmarc_rollup_day
    start = epoch_floor(since)
    return [
        table.c.domain == _domain(domain),
        table.c.day >= start - start % DAY,
        table.c.day < epoch_ceil(until),
    ]


def dmarc_domains(conn: Connection) -> list[str]:
    """Domains with stored aggregate reports (the report index, not the records)."""
    column = dmarc_reports.c.domain
    return sorted(str(domain) for domain in conn.execute(sa.select(column).distinct()).scalars())


def _domain(value: str) -> str:
    return value.strip().rstrip(".").lower()


def _ceil(value: int, step: int) -> int:
    return -(-value // step) * step


def _datetime(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)
