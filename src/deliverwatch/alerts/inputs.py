"""Gathering what the signal functions need from the store: the I/O half of the engine.

Rates come from the rollups through the same window plan (``store.stats.plan_window``) and
the same denominators as ``store.stats.stats`` (``sent`` per ESP is the larger of its send
events and delivered + bounced; complaints are per delivered message), but for every domain
in one grouped query per window instead of one query per domain, with the counts of each
event type summed by the database (one row per domain, mailbox provider and ESP): an
evaluation over a thousand domains reads a few thousand rows per window. Each other source
(audit history, DMARC, placement) sits behind one small function, imported when called, so a
missing module only switches its rules off.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from deliverwatch.alerts.detectors import Point
from deliverwatch.alerts.signals import PlacementPoint
from deliverwatch.clock import epoch_ceil, epoch_floor
from deliverwatch.dmarc.summary import Volume
from deliverwatch.store.rollups import DAY, HOUR, MINUTE, Horizons, read_horizons
from deliverwatch.store.schema import rollup_day, rollup_hour, rollup_minute, rollup_series
from deliverwatch.store.stats import Rate, plan_window, wilson

_TABLES = {MINUTE: rollup_minute, HOUR: rollup_hour, DAY: rollup_day}
#: Count columns, in query order: what each is summed from.
_SUMS: tuple[tuple[str, str, str | None], ...] = (
    ("sent_events", "sent", None),
    ("delivered", "delivered", None),
    ("bounces", "bounced", None),
    ("hard_bounces", "bounced", "hard"),
    ("deferred", "deferred", None),
    ("complaints", "complained", None),
)


@dataclass(slots=True)
class Counts:
    """Event counts of one group in a window; ``sent`` as ``stats`` counts it."""

    sent: int = 0
    delivered: int = 0
    bounces: int = 0
    hard_bounces: int = 0
    deferred: int = 0
    complaints: int = 0

    def fraction(self, metric: str) -> tuple[int, int]:
        """(numerator, denominator) of a rate."""
        if metric == "complaint_rate":
            return self.complaints, self.delivered
        if metric == "hard_bounce_rate":
            return self.hard_bounces, self.sent
        if metric == "bounce_rate":
            return self.bounces, self.sent
        if metric == "deferral_rate":
            return self.deferred, self.sent
        raise ValueError(f"unknown rate {metric!r}")

    def rate(self, metric: str) -> Rate:
        return wilson(*self.fraction(metric))

    def point(self, metric: str) -> Point:
        if metric == "volume":
            return Point(float(self.sent), self.sent)
        numerator, denominator = self.fraction(metric)
        return Point(min(numerator / denominator, 1.0) if denominator else 0.0, denominator)


#: (domain, mailbox provider or '', bucket or 0)
Key = tuple[str, str, int]


def window_counts(
    conn: Connection,
    since: datetime,
    until: datetime,
    *,
    step: int | None = None,
    domains: Collection[str] | None = None,
) -> dict[Key, Counts]:
    """Counts of every sending domain (and bucket of ``step`` seconds, 3600 or 86400, when
    given) in ``[since, until)``."""
    raw = _fetch(conn, since, until, per_provider=False, step=step, domains=domains)
    return {key: _counts(esps.values()) for key, esps in raw.items()}


def domain_totals(
    conn: Connection, since: datetime, until: datetime
) -> tuple[dict[Key, Counts], dict[Key, Counts]]:
    """(per domain, per domain and mailbox provider) of ``[since, until)``, ``since`` on a
    whole hour and the window read up to the end of ``until``'s hour (nothing is stored
    later than now). A domain's ``sent`` is taken per ESP over the domain's whole traffic,
    as ``stats`` computes it."""
    spans = hour_window_spans(epoch_floor(since), epoch_ceil(until), read_horizons(conn))
    raw = _fetch(conn, since, until, per_provider=True, spans=spans)
    by_provider: dict[Key, Counts] = {}
    merged: dict[str, dict[str, list[int]]] = {}
    for (domain, provider, _), esps in raw.items():
        by_provider[(domain, provider, 0)] = _counts(esps.values())
        mine = merged.setdefault(domain, {})
        for esp, values in esps.items():
            known = mine.get(esp)
            if known is None:
                mine[esp] = list(values)
            else:
                for i, value in enumerate(values):
                    known[i] += value
    by_domain = {(domain, "", 0): _counts(esps.values()) for domain, esps in merged.items()}
    return by_domain, by_provider


def _fetch(
    conn: Connection,
    since: datetime,
    until: datetime,
    *,
    per_provider: bool,
    step: int | None = None,
    domains: Collection[str] | None = None,
    spans: list[Span] | None = None,
) -> dict[Key, dict[str, list[int]]]:
    """Key → ESP → summed counts (``_SUMS`` order), one grouped query per bucket range
    (``spans`` given: those, a sign -1 subtracting)."""
    start, end = epoch_floor(since), epoch_ceil(until)
    if spans is None:
        if step is None:
            ranges = plan_window(start, end, read_horizons(conn)).ranges
        else:  # whole buckets of the rollup of that step (all three are written at ingest)
            ranges = {step: [(start - start % step, -(-end // step) * step)]}
        spans = [(table, low, high, 1) for table, pairs in ranges.items() for low, high in pairs]
    found: dict[Key, dict[str, list[int]]] = {}
    wanted = {"domains": sorted(domains)} if domains is not None else {}
    for table_step, low, high, sign in spans:
        query = _statement(table_step, per_provider, step is not None, domains is not None)
        rows = conn.execute(query, {"low": low, "high": high, **wanted}).all()
        for row in rows:
            key = (row[0], row[1], int(row[2]))
            values = list(map(int, row[4:]))  # PostgreSQL sums bigints as numeric
            if sign < 0:
                values = [-v for v in values]
            esps = found.get(key)
            if esps is None:
                found[key] = {row[3]: values}
            elif (known := esps.get(row[3])) is None:
                esps[row[3]] = values
            else:
                for i, value in enumerate(values):
                    known[i] += value
    return found


#: (rollup step, first bucket, end bucket, +1 to add or -1 to subtract)
Span = tuple[int, int, int, int]


def hour_window_spans(since: int, until: int, horizons: Horizons) -> list[Span]:
    """Spans covering the hours from ``since`` (a whole hour) through ``until``'s hour, with
    the fewest rows per series: whole UTC days come from the day rollup (today's day row
    holds everything up to now), and a day mostly inside the window is read as the day minus
    its hours before ``since``. A 24h window then reads 3 to 14 rows per series, not 25.
    Where hour rollups were compacted away, the plain plan of ``stats`` is used."""
    end = until - until % HOUR + HOUR
    if horizons.hour_rollups_from is not None and since < horizons.hour_rollups_from:
        plan = plan_window(since, until, horizons).ranges
        return [(step, low, high, 1) for step, pairs in plan.items() for low, high in pairs]
    spans: list[Span] = []
    day = since - since % DAY
    while day < end:
        low, high = max(since, day), min(end, day + DAY)
        whole_to_now = high == end and end > until  # the day's row has nothing after now
        if low == day and (high == day + DAY or whole_to_now):
            spans.append((DAY, day, day + DAY, 1))
        elif (high - low) // HOUR <= 2 + (low - day) // HOUR or not (
            high == day + DAY or whole_to_now
        ):
            spans.append((HOUR, low, high, 1))
        else:  # the whole day, minus its hours before the window
            spans += [(DAY, day, day + DAY, 1), (HOUR, day, low, -1)]
        day += DAY
    return spans


@lru_cache(maxsize=32)
def _statement(
    table_step: int, per_provider: bool, bucketed: bool, filtered: bool
) -> sa.Select[Any]:
    """The grouped query of one rollup table, built once: ``:low``/``:high`` bound the buckets,
    ``:domains`` (expanding) the domains when ``filtered``."""
    series = rollup_series
    table = _TABLES[table_step]
    count = table.c["count"]
    provider = series.c.mailbox_provider if per_provider else None
    bucket = table.c.bucket if bucketed else None
    keys: list[Any] = [
        series.c.sending_domain,
        provider if provider is not None else sa.literal_column("''"),
        bucket if bucket is not None else sa.literal_column("0"),
        series.c.provider,
    ]
    grouped = [
        c for c in (series.c.sending_domain, provider, bucket, series.c.provider) if c is not None
    ]
    sums = []
    for _name, kind, bounce in _SUMS:
        matches = series.c.event_type == kind
        if bounce is not None:
            matches = sa.and_(matches, series.c.bounce_class == bounce)
        sums.append(sa.func.sum(sa.case((matches, count), else_=0)))
    query = (
        sa.select(*keys, *sums)
        .join_from(series, table, table.c.series_id == series.c.id)
        .where(
            table.c.bucket >= sa.bindparam("low"),
            table.c.bucket < sa.bindparam("high"),
            series.c.event_type.in_(sorted({kind for _, kind, _ in _SUMS})),
            series.c.sending_domain != "",
        )
        .group_by(*grouped)
    )
    if filtered:
        query = query.where(series.c.sending_domain.in_(sa.bindparam("domains", expanding=True)))
    return query


def _counts(esps: Collection[list[int]]) -> Counts:
    if len(esps) == 1:  # the common case: one ESP
        (only,) = esps
        sent_events, delivered, bounces, hard, deferred, complaints = only
        sent = sent_events if sent_events > delivered + bounces else delivered + bounces
        return Counts(sent, delivered, bounces, hard, deferred, complaints)
    out = Counts()
    for sent_events, delivered, bounces, hard, deferred, complaints in esps:
        out.sent += max(sent_events, delivered + bounces)
        out.delivered += delivered
        out.bounces += bounces
        out.hard_bounces += hard
        out.deferred += deferred
        out.complaints += complaints
    return out


# -- other sources ----------------------------------------------------------------------------


def dmarc_volumes(conn: Connection, since: datetime, until: datetime) -> list[Volume]:
    from deliverwatch.store.dmarc import read_volumes

    return read_volumes(conn, since=since, until=until)


def audited_domains(conn: Connection, after_id: int) -> tuple[set[str], int]:
    """Domains with an audit stored after ``after_id``, and the largest audit id."""
    from deliverwatch.store.schema import metadata

    audits = metadata.tables["audits"]
    rows = conn.execute(
        sa.select(audits.c.domain, sa.func.max(audits.c.id))
        .where(audits.c.id > after_id)
        .group_by(audits.c.domain)
    ).all()
    return {row[0] for row in rows}, max((int(row[1]) for row in rows), default=after_id)


def audit_reports(conn: Connection, domain: str, limit: int) -> list[dict[str, Any]]:
    """The domain's audit reports, newest first."""
    from deliverwatch.history.store import audit_history

    return [audit.report for audit in audit_history(conn, domain, limit=limit)]


def placement_points(conn: Connection, since: datetime) -> list[PlacementPoint]:
    """One point per placement run and mailbox provider, plus one for the run overall
    (provider ''); the domain is the sender's."""
    from deliverwatch.placement.store import placement_history

    points = []
    for run in placement_history(conn, since=since, limit=100):
        domain = run.sender.rsplit("@", 1)[-1].strip(">").lower() if run.sender else ""
        if not domain:
            continue
        per_provider = {"": run.overall, **run.by_provider()}
        for provider, rates in per_provider.items():
            inbox = int(rates.counts.get("inbox", 0))
            points.append(PlacementPoint(run.started_at, domain, provider, inbox, rates.counted))
    return points
