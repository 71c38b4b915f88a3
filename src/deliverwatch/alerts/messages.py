"""Notifications from alerts: what, where, how bad, the evidence, the likely causes, the
recommended actions and the dashboard link, for one alert or a group of one domain's."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from deliverwatch.alerts.config import severity_rank
from deliverwatch.alerts.model import Alert
from deliverwatch.notify.model import Notification

KIND_ORDER = ("firing", "reminder", "escalation", "acknowledged", "resolved")


def _duration(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 60:
        return f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    return f"{hours // 24}d {hours % 24}h"


def _where(alert: Alert) -> str:
    return f"{alert.domain} at {alert.provider}" if alert.provider else alert.domain


def _headline(kind: str, alert: Alert, now: datetime) -> str:
    summary = alert.summary or f"{alert.rule} on {_where(alert)}"
    if kind == "resolved":
        return f"[RESOLVED] {summary}"
    tag = f"[{alert.severity.upper()}]"
    if kind == "reminder":
        since = alert.fired_at or alert.started_at
        return f"{tag} still firing after {_duration(now - since)}: {summary}"
    if kind == "escalation":
        since = alert.fired_at or alert.started_at
        return f"{tag} ESCALATED, not acknowledged for {_duration(now - since)}: {summary}"
    if kind == "acknowledged":
        return f"[ACKNOWLEDGED by {alert.acknowledged_by or 'someone'}] {summary}"
    return f"{tag} {summary}"


def _evidence(kind: str, alert: Alert, now: datetime) -> list[str]:
    lines = list(alert.evidence)
    if kind == "resolved" and alert.resolved_at is not None:
        since = alert.fired_at or alert.started_at
        how = "by hand" if alert.resolved_by not in (None, "auto") else "signal clear"
        lines.append(
            f"resolved {how} after {_duration(alert.resolved_at - since)}"
            + (f" by {alert.resolved_by}" if how == "by hand" else "")
        )
    if alert.flap_count:
        lines.append(f"flapping: came back {alert.flap_count} time(s) soon after resolving")
    return lines


def _link(base: str | None, path: str) -> str | None:
    return None if not base else f"{base.rstrip('/')}/{path}"


def _unique(items: Sequence[Any]) -> list[str]:
    return list(dict.fromkeys(str(item) for item in items))


def build_notification(
    kind: str,
    route: str,
    group_key: str,
    alerts: Sequence[Alert],
    now: datetime,
    dashboard_url: str | None,
) -> Notification:
    """One notification of ``kind`` for ``alerts`` (one, or several of one group)."""
    worst = max(alerts, key=lambda a: severity_rank(a.severity))
    severity = (
        worst.severity if worst.severity in ("info", "warning", "high", "critical") else "warning"
    )
    if len(alerts) == 1:
        alert = alerts[0]
        details = alert.details or {}
        return Notification(
            kind=kind,  # type: ignore[arg-type]
            fingerprint=alert.fingerprint,
            group_key=group_key,
            severity=severity,  # type: ignore[arg-type]
            title=_headline(kind, alert, now),
            domain=alert.domain,
            summary=f"{alert.summary} (rule {alert.rule}, {alert.severity})",
            evidence=_evidence(kind, alert, now),
            causes=_unique(details.get("causes", [])),
            actions=_unique(details.get("actions", [])),
            link=_link(dashboard_url, f"alerts/{alert.id}"),
            labels={**alert.labels(), "route": route, "alert_id": str(alert.id)},
            created_at=now,
        )
    domain = alerts[0].domain
    same_domain = all(a.domain == domain for a in alerts)
    where = domain if same_domain else f"{len({a.domain for a in alerts})} domains"
    verb = {"firing": "firing", "resolved": "resolved", "reminder": "still firing"}.get(kind, kind)
    evidence: list[str] = []
    for alert in alerts:
        evidence.append(_headline(kind, alert, now))
        evidence += [f"  {line}" for line in _evidence(kind, alert, now)]
    return Notification(
        kind=kind,  # type: ignore[arg-type]
        fingerprint=hashlib.sha256(group_key.encode()).hexdigest()[:32],
        group_key=group_key,
        severity=severity,  # type: ignore[arg-type]
        title=f"[{'RESOLVED' if kind == 'resolved' else severity.upper()}] "
        f"{len(alerts)} alerts {verb} on {where}",
        domain=domain if same_domain else None,
        summary="; ".join(a.summary for a in alerts),
        evidence=evidence,
        causes=_unique([c for a in alerts for c in (a.details or {}).get("causes", [])]),
        actions=_unique([c for a in alerts for c in (a.details or {}).get("actions", [])]),
        link=_link(dashboard_url, f"domains/{domain}" if same_domain else "alerts"),
        labels={"domain": domain if same_domain else "", "route": route, "severity": severity},
        alerts=[a.to_dict() for a in alerts],
        created_at=now,
    )
