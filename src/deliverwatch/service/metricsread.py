"""The store-backed gauges of ``/metrics``: one read of the store per scrape.

Domain rows come from the dashboard's read model (``views.overview``) so Grafana and the
dashboard never disagree; 24-hour rates from ``store.stats``; the rest from each module's
own read functions.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from deliverwatch.clock import Clock
from deliverwatch.config import Config

Samples = dict[str, list[tuple[dict[str, str], float]]]

_AUDIT_STATUSES = ("ok", "warning", "error", "unknown")
_RATES = {
    "bounce": "bounce_rate",
    "hard_bounce": "hard_bounce_rate",
    "complaint": "complaint_rate",
    "open": "open_rate",
    "click": "click_rate",
    "unsubscribe": "unsubscribe_rate",
}


def read_gauges(engine: Engine, config: Config, clock: Clock) -> Samples:
    out: Samples = {}
    with engine.connect() as conn:
        _domains(conn, config, clock, out)
        _audit_findings(conn, out)
        _alerts(conn, out)
        _outbox(conn, out)
        _placement(conn, out)
        _dmarc(conn, clock, out)
    return out


def _add(out: Samples, name: str, labels: dict[str, str], value: float | None) -> None:
    if value is not None:
        out.setdefault(name, []).append((labels, float(value)))


def _domains(conn: Connection, config: Config, clock: Clock, out: Samples) -> None:
    from deliverwatch.service.views import overview
    from deliverwatch.store import stats

    now = clock.now()
    for row in overview(conn, config, clock):
        domain = row.domain
        _add(
            out,
            "deliverwatch_domain_score",
            {"domain": domain, "kind": "deliverability"},
            row.score,
        )
        _add(
            out,
            "deliverwatch_domain_score",
            {"domain": domain, "kind": "reputation"},
            row.reputation,
        )
        if row.audit_status is not None:
            for status in _AUDIT_STATUSES:
                value = 1.0 if row.audit_status == status else 0.0
                _add(
                    out,
                    "deliverwatch_domain_audit_status",
                    {"domain": domain, "status": status},
                    value,
                )
        if row.last_audit_at is not None:
            _add(
                out,
                "deliverwatch_domain_audit_timestamp_seconds",
                {"domain": domain},
                row.last_audit_at.timestamp(),
            )
        for severity, count in row.alerts.items():
            _add(
                out,
                "deliverwatch_domain_alerts_active",
                {"domain": domain, "severity": severity},
                count,
            )
        (day,) = stats(conn, domain=domain, since=now - timedelta(hours=24), until=now)
        for kind, attribute in _RATES.items():
            rate = getattr(day, attribute)
            _add(out, "deliverwatch_domain_rate", {"domain": domain, "kind": kind}, rate.value)
        for count_name in day.COUNTS:
            labels = {"domain": domain, "type": count_name}
            _add(out, "deliverwatch_domain_events_24h", labels, getattr(day, count_name))


def _audit_findings(conn: Connection, out: Samples) -> None:
    from deliverwatch.history import latest_audits

    for domain, audit in sorted(latest_audits(conn).items()):
        counts = {"error": audit.errors, "warning": audit.warnings, "info": audit.infos}
        for severity, count in counts.items():
            labels = {"domain": domain, "severity": severity}
            _add(out, "deliverwatch_domain_audit_findings", labels, count)


def _alerts(conn: Connection, out: Samples) -> None:
    from deliverwatch.alerts.store import list_alerts

    counts: dict[tuple[str, str], int] = {}
    for state in ("firing", "pending"):
        for alert in list_alerts(conn, state=state, limit=100_000):
            key = (str(alert.severity), state)
            counts[key] = counts.get(key, 0) + 1
    for (severity, state), count in sorted(counts.items()):
        _add(out, "deliverwatch_alerts_active", {"severity": severity, "state": state}, count)


def _outbox(conn: Connection, out: Samples) -> None:
    from deliverwatch.notify.outbox import outbox_counts

    for (channel, state), count in sorted(outbox_counts(conn).items()):
        _add(out, "deliverwatch_outbox_notifications", {"channel": channel, "state": state}, count)


def _placement(conn: Connection, out: Samples) -> None:
    from deliverwatch.placement.store import latest_placement

    run = latest_placement(conn)
    if run is None:
        return
    data = run.to_dict()
    groups = {"all": data.get("overall", {}), **data.get("providers", {})}
    for provider, rates in groups.items():
        for folder in ("inbox", "spam", "tab", "missing"):
            value = rates.get(f"{folder}_rate") if isinstance(rates, dict) else None
            if isinstance(value, int | float):
                _add(
                    out,
                    "deliverwatch_placement_rate",
                    {"provider": provider, "folder": folder},
                    value,
                )


def _dmarc(conn: Connection, clock: Clock, out: Samples) -> None:
    from deliverwatch.store.schema import dmarc_rollup_day

    since = int((clock.now() - timedelta(days=7)).timestamp()) // 86_400 * 86_400
    table = dmarc_rollup_day
    passed = sa.func.sum(sa.case((table.c.dmarc_pass, table.c.count), else_=0))
    query = (
        sa.select(table.c.domain, sa.func.sum(table.c.count), passed)
        .where(table.c.day >= since)
        .group_by(table.c.domain)
    )
    for domain, total, good in conn.execute(query):
        total = int(total or 0)
        _add(out, "deliverwatch_dmarc_messages_7d", {"domain": domain}, total)
        if total:
            _add(out, "deliverwatch_dmarc_pass_rate", {"domain": domain}, int(good or 0) / total)
