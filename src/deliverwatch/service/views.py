"""The read model of the dashboard and the JSON API: what a person (or a tool) sees of each
domain, built from rollups, the audit history, alerts and DMARC day rollups only.

    rows = overview(conn, config, clock)                      # every domain, worst first
    page = domain_detail(conn, config, "example.com", "7d", clock)
    json.dumps([row.to_dict() for row in rows])

Nothing here reads raw events: rates come from the rollups (one grouped query per page, see
:mod:`deliverwatch.store.series`), so a page costs the same with a thousand events or ten
million. The status answers "is anything wrong?" (:func:`judge` says how).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from deliverwatch.clock import Clock, epoch_ceil, epoch_floor
from deliverwatch.config import Config
from deliverwatch.service import readers
from deliverwatch.service.readers import AuditRecord, ScoreRecord, iso
from deliverwatch.service.status import (
    DEFAULT_THRESHOLDS,
    MIN_VOLUME,
    STATUS_ORDER,
    Status,
    Threshold,
    judge,
    thresholds_for,
)
from deliverwatch.service.viewmodel import (
    WINDOWS,
    AlertsPage,
    DmarcPanel,
    DomainDetail,
    DomainOverview,
    Point,
    ProviderBreakdown,
    Series,
    active_alerts,
)
from deliverwatch.store.rollups import DAY, HOUR
from deliverwatch.store.schema import suppressions
from deliverwatch.store.series import (
    Buckets,
    EspTallies,
    Tally,
    align,
    combine,
    dmarc_days,
    dmarc_domains,
    dmarc_sources,
    esp_tallies,
    fit_to_rollups,
    sending_domains,
)
from deliverwatch.store.stats import Rate, StatsRow, stats, wilson

#: window → (span, bucket step), in seconds: 24–90 points a chart.
WINDOW_STEPS: dict[str, tuple[int, int]] = {
    "24h": (DAY, HOUR),
    "7d": (7 * DAY, 6 * HOUR),
    "30d": (30 * DAY, DAY),
    "90d": (90 * DAY, DAY),
}

SEVERITIES = ("critical", "high", "warning", "info")
#: The overview's sparklines: daily buckets over two weeks; its rates: the last 7 of them.
SPARK_DAYS = 14
RATE_DAYS = 7
RATE_NAMES = (
    "bounce_rate",
    "hard_bounce_rate",
    "complaint_rate",
    "deferral_rate",
    "open_rate",
    "click_rate",
)


# -- building --------------------------------------------------------------------------------


def overview(conn: Connection, config: Config, clock: Clock) -> list[DomainOverview]:
    """Every configured domain and every domain seen in events, DMARC reports or audits,
    worst status first (then by name)."""
    now = clock.now()
    audits = readers.latest_audit_heads(conn)
    scores = readers.latest_scores(conn)
    alerts = readers.active_alert_counts(conn)
    configured = [d.name for d in config.domains]
    names = set(configured) | set(sending_domains(conn)) | set(dmarc_domains(conn))
    names |= set(audits)
    thresholds = thresholds_for(config)
    buckets = fit_to_rollups(conn, align(now, SPARK_DAYS * DAY, DAY))
    tallies = CLOSED_DAYS.tallies(conn, buckets)
    rows = [
        _overview_row(
            name,
            name in configured,
            buckets,
            tallies.get((name, None), {}),
            audits.get(name),
            scores.get(name),
            alerts.get(name, {}),
            thresholds,
        )
        for name in names
    ]
    rows.sort(key=lambda row: (STATUS_ORDER[row.status], -row.active_alerts, row.domain))
    return rows


class ClosedDays:
    """The overview's daily tallies of days already over, kept for :data:`ttl` seconds.

    Of the 14 daily buckets the overview reads, 13 are closed days whose counts change only
    when an event arrives late; re-reading them on every page view is most of the page's
    cost with many domains. They are cached per store and window start for ``ttl`` seconds
    (so a late event shows within that time); the current day is read every time.
    """

    def __init__(self, ttl: float = 300.0) -> None:
        self.ttl = ttl
        self._entries: dict[tuple[str, int, int, int], tuple[float, EspTallies]] = {}

    def tallies(self, conn: Connection, buckets: Buckets) -> EspTallies:
        last = buckets.until - buckets.step
        if self.ttl <= 0 or last <= buckets.since:
            return esp_tallies(conn, buckets)
        key = (str(conn.engine.url), buckets.since, last, buckets.step)
        found = self._entries.get(key)
        if found is None or found[0] < time.monotonic():
            closed = esp_tallies(conn, Buckets(buckets.since, last, buckets.step))
            self._entries = {k: v for k, v in self._entries.items() if v[0] >= time.monotonic()}
            self._entries[key] = (time.monotonic() + self.ttl, closed)
            found = self._entries[key]
        merged: EspTallies = {group: dict(per) for group, per in found[1].items()}
        today = esp_tallies(conn, Buckets(last, buckets.until, buckets.step))
        for group, per in today.items():
            merged.setdefault(group, {}).update(per)
        return merged


#: The process's cache (``CLOSED_DAYS.ttl = 0`` turns it off).
CLOSED_DAYS = ClosedDays()


def _overview_row(
    domain: str,
    configured: bool,
    buckets: Buckets,
    per_bucket: dict[int, dict[str, tuple[int, ...]]],
    audit: AuditRecord | None,
    score: ScoreRecord | None,
    by_severity: dict[str, int],
    thresholds: dict[str, Threshold],
) -> DomainOverview:
    """A domain's row: rates over the last :data:`RATE_DAYS` daily buckets (today's
    included), sparklines over all of them."""
    recent_from = buckets.until - RATE_DAYS * buckets.step
    recent = combine(part for start, part in per_bucket.items() if start >= recent_from)
    rates = {name: _wilson(recent, name) for name in ("bounce_rate", "hard_bounce_rate")}
    rates["complaint_rate"] = _wilson(recent, "complaint_rate")
    status, reasons = judge(rates, recent.sent, audit, by_severity, thresholds)
    spark = _lines(("bounce_rate", "complaint_rate"), buckets, _by_bucket([per_bucket]))
    report = audit.report if audit else {}
    return DomainOverview(
        domain=domain,
        configured=configured,
        status=status,
        reasons=reasons,
        score=score.deliverability if score else _number(report.get("score")),
        reputation=score.reputation if score else None,
        grade=(score.grade if score else None) or report.get("grade"),
        alerts=by_severity,
        sent=recent.sent,
        bounce_rate=rates["bounce_rate"].value,
        complaint_rate=rates["complaint_rate"].value,
        bounce_series=spark["bounce_rate"],
        complaint_series=spark["complaint_rate"],
        last_audit_at=audit.checked_at if audit else None,
        audit_status=audit.status if audit else None,
    )


def domain_detail(
    conn: Connection, config: Config, domain: str, window: str, clock: Clock
) -> DomainDetail:
    """Everything the domain page shows over ``window`` (24h, 7d, 30d or 90d)."""
    if window not in WINDOW_STEPS:
        raise ValueError(f"window must be one of {', '.join(WINDOWS)}")
    domain = domain.strip().rstrip(".").lower()
    now = clock.now()
    span, step = WINDOW_STEPS[window]
    buckets = fit_to_rollups(conn, align(now, span, step))
    since, until = _datetime(buckets.since), _datetime(buckets.until)
    tallies: EspTallies = esp_tallies(conn, buckets, domains=[domain], by="mailbox-provider")
    by_provider = {str(key[1]): per_bucket for key, per_bucket in tallies.items()}
    per_bucket = _by_bucket(by_provider.values())
    (totals,) = stats(conn, domain=domain, since=since, until=until)
    provider_totals = stats(conn, domain=domain, since=since, until=until, by="mailbox-provider")
    thresholds = thresholds_for(config)
    audits = readers.audit_history(conn, domain, limit=10)
    audit = audits[0] if audits else None
    score = readers.latest_scores(conn, [domain]).get(domain)
    alerts = readers.list_alerts(conn, domain=domain, limit=100)
    by_severity = _count_severities(active_alerts(alerts))
    status, reasons = judge(_rates(totals), totals.sent, audit, by_severity, thresholds)
    rates = _lines(RATE_NAMES, buckets, per_bucket)
    report = audit.report if audit else {}
    head = DomainOverview(  # the domain's overview row, over the page's window
        domain=domain,
        configured=domain in {d.name for d in config.domains},
        status=status,
        reasons=reasons,
        score=score.deliverability if score else _number(report.get("score")),
        reputation=score.reputation if score else None,
        grade=(score.grade if score else None) or report.get("grade"),
        alerts=by_severity,
        sent=totals.sent,
        bounce_rate=totals.bounce_rate.value,
        complaint_rate=totals.complaint_rate.value,
        bounce_series=rates["bounce_rate"],
        complaint_series=rates["complaint_rate"],
        last_audit_at=audit.checked_at if audit else None,
        audit_status=audit.status if audit else None,
    )
    return DomainDetail(
        domain=domain,
        window=window,  # type: ignore[arg-type]  # checked against WINDOW_STEPS above
        since=since,
        until=until,
        step=buckets.step,
        generated_at=now,
        overview=head,
        findings=[dict(f) for f in report.get("findings", [])],
        changes=list(audit.changes) if audit else [],
        audited_at=audit.checked_at if audit else None,
        audits=[_audit_summary(a) for a in audits],
        score_parts=list(score.parts) if score else [],
        totals=totals,
        deferral_rate=_deferral(totals),
        rates=rates,
        providers=_providers(by_provider, provider_totals, buckets),
        thresholds=thresholds,
        dmarc=_dmarc(conn, domain, since, until),
        suppressions=suppression_counts(conn, domain),
        alerts=alerts,
    )


def alerts_page(conn: Connection, clock: Clock) -> AlertsPage:
    """Active alerts (worst first) and the most recent others, with the active silences."""
    alerts = readers.list_alerts(conn, limit=500)
    active = active_alerts(alerts)
    rank = {severity: n for n, severity in enumerate(SEVERITIES)}
    active.sort(key=lambda a: (rank.get(str(a.get("severity")), 9), str(a.get("domain"))))
    recent = [alert for alert in alerts if alert not in active][:100]
    return AlertsPage(
        generated_at=clock.now(),
        active=active,
        recent=recent,
        silences=readers.list_silences(conn, clock.now()),
    )


def suppression_counts(conn: Connection, domain: str) -> dict[str, int]:
    """The domain's own suppression entries by reason (the index on (domain, reason))."""
    t = suppressions
    query = (
        sa.select(t.c.reason, sa.func.count())
        .where(t.c.sending_domain == domain)
        .group_by(t.c.reason)
    )
    return {str(reason): int(n) for reason, n in conn.execute(query)}


# -- pieces ----------------------------------------------------------------------------------


def _lines(
    rate_names: Sequence[str],
    buckets: Buckets,
    per_bucket: dict[int, Tally],
    label: str | None = None,
) -> dict[str, Series]:
    """One series per rate over ``buckets``; a bucket without mail is a gap (None)."""
    points: dict[str, list[Point]] = {name: [] for name in rate_names}
    for start in buckets.starts:
        at = _datetime(start)
        tally = per_bucket.get(start)
        for name in rate_names:
            if tally is None:
                points[name].append(Point(at, None))
            else:
                points[name].append(Point(at, *tally.rate(name)))
    return {
        name: Series(f"{name}:{label}" if label else name, buckets.step, line)
        for name, line in points.items()
    }


def _by_bucket(groups: Iterable[dict[int, dict[str, tuple[int, ...]]]]) -> dict[int, Tally]:
    """One tally per bucket of several groups' per-ESP counts."""
    parts: dict[int, list[dict[str, tuple[int, ...]]]] = {}
    for per_bucket in groups:
        for start, per_esp in per_bucket.items():
            parts.setdefault(start, []).append(per_esp)
    return {start: combine(found) for start, found in parts.items()}


def _wilson(tally: Tally, name: str) -> Rate:
    _, numerator, denominator = tally.rate(name)
    return wilson(numerator, denominator)


def _rates(row: StatsRow) -> dict[str, Rate]:
    """The rates :func:`judge` weighs, of a ``stats`` row."""
    return {
        "bounce_rate": row.bounce_rate,
        "hard_bounce_rate": row.hard_bounce_rate,
        "complaint_rate": row.complaint_rate,
        "deferral_rate": _deferral(row),
    }


def _deferral(row: StatsRow) -> Rate:
    """Deferrals per message sent (a message deferred three times counts three: the rate
    says how hard the receiver is pushing back, and is capped at 1)."""
    return wilson(row.deferred, row.sent)


def _providers(
    by_provider: dict[str, dict[int, dict[str, tuple[int, ...]]]],
    totals: list[StatsRow],
    buckets: Buckets,
) -> list[ProviderBreakdown]:
    result = []
    for row in totals:
        name = str(row.group)
        per_bucket = _by_bucket([by_provider.get(name, {})])
        lines = _lines(("bounce_rate", "complaint_rate"), buckets, per_bucket, name)
        result.append(ProviderBreakdown(name, row, _deferral(row), lines))
    result.sort(key=lambda p: (-p.totals.sent, p.mailbox_provider))
    return result


def _dmarc(conn: Connection, domain: str, since: datetime, until: datetime) -> DmarcPanel:
    days = dmarc_days(conn, domain, since, until)
    sources, count = dmarc_sources(conn, domain, since, until)
    since_epoch = epoch_floor(since)
    first = since_epoch - since_epoch % DAY
    by_day = {day.day: day for day in days}
    points = []
    for start in range(first, epoch_ceil(until), DAY):
        found = by_day.get(start)
        if found is None or not found.messages:
            points.append(Point(_datetime(start), None))
        else:
            value = found.passed / found.messages
            points.append(Point(_datetime(start), value, found.passed, found.messages))
    return DmarcPanel(
        messages=sum(day.messages for day in days),
        passed=sum(day.passed for day in days),
        sources=[source.to_dict() for source in sources],
        source_count=count,
        pass_series=Series("dmarc_pass_rate", DAY, points),
    )


def _audit_summary(audit: AuditRecord) -> dict[str, Any]:
    return {
        "id": audit.id,
        "checked_at": iso(audit.checked_at),
        "status": audit.status,
        "score": audit.report.get("score"),
        "grade": audit.report.get("grade"),
        "changes": len(audit.changes),
    }


def _count_severities(alerts: Sequence[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for alert in alerts:
        severity = str(alert.get("severity") or "warning")
        counts[severity] = counts.get(severity, 0) + 1
    rank = {severity: n for n, severity in enumerate(SEVERITIES)}
    return dict(sorted(counts.items(), key=lambda item: rank.get(item[0], 9)))


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def _datetime(epoch: int) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


__all__ = [
    "DEFAULT_THRESHOLDS",
    "MIN_VOLUME",
    "STATUS_ORDER",
    "WINDOWS",
    "WINDOW_STEPS",
    "AlertsPage",
    "ClosedDays",
    "DmarcPanel",
    "DomainDetail",
    "DomainOverview",
    "Point",
    "ProviderBreakdown",
    "Series",
    "Status",
    "Threshold",
    "alerts_page",
    "domain_detail",
    "judge",
    "overview",
    "thresholds_for",
]
