"""The read model's records: what the overview, a domain page and the alerts page hold, each
with a JSON-safe ``to_dict()`` (the API serves them as they are). Built by
:mod:`deliverwatch.service.views`."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NamedTuple, get_args

from deliverwatch.service.readers import iso
from deliverwatch.service.status import Status, Threshold
from deliverwatch.store.stats import Rate, StatsRow

Window = Literal["24h", "7d", "30d", "90d"]
WINDOWS: tuple[Window, ...] = get_args(Window)
_INACTIVE_STATES = {"resolved", "pending", "inactive", "ok"}


class Point(NamedTuple):
    """One bucket of a series (a tuple: pages build thousands of them)."""

    at: datetime
    value: float | None
    numerator: int = 0
    denominator: int = 0


@dataclass(frozen=True, slots=True)
class Series:
    """One line of a chart: ``name`` (a rate, or a rate of one mailbox provider) per bucket
    of ``step`` seconds from ``points[0].at``; ``value`` None where nothing was sent.

    JSON is by column (``since``, ``step``, then one list per field), about a third of the
    size of one object per point: the overview carries 2,800 points."""

    name: str
    step: int
    points: list[Point]

    def values(self) -> list[float | None]:
        return [point.value for point in self.points]

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "step": self.step,
            "since": iso(self.points[0].at) if self.points else None,
            "values": [point.value for point in self.points],
            "numerators": [point.numerator for point in self.points],
            "denominators": [point.denominator for point in self.points],
        }


@dataclass(frozen=True, slots=True)
class DomainOverview:
    domain: str
    configured: bool
    status: Status
    reasons: list[str]
    score: float | None
    reputation: float | None
    grade: str | None
    alerts: dict[str, int]
    sent: int
    bounce_rate: float | None
    complaint_rate: float | None
    bounce_series: Series
    complaint_series: Series
    last_audit_at: datetime | None
    audit_status: str | None

    @property
    def active_alerts(self) -> int:
        return sum(self.alerts.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "configured": self.configured,
            "status": self.status,
            "reasons": list(self.reasons),
            "score": self.score,
            "reputation": self.reputation,
            "grade": self.grade,
            "alerts": dict(self.alerts),
            "active_alerts": self.active_alerts,
            "sent": self.sent,
            "bounce_rate": self.bounce_rate,
            "complaint_rate": self.complaint_rate,
            "bounce_series": self.bounce_series.to_dict(),
            "complaint_series": self.complaint_series.to_dict(),
            "last_audit_at": iso(self.last_audit_at) if self.last_audit_at else None,
            "audit_status": self.audit_status,
        }


@dataclass(frozen=True, slots=True)
class ProviderBreakdown:
    """One mailbox provider's totals over the window and its rate lines."""

    mailbox_provider: str
    totals: StatsRow
    deferral_rate: Rate
    series: dict[str, Series]

    def to_dict(self) -> dict[str, Any]:
        return {
            "mailbox_provider": self.mailbox_provider,
            "totals": totals_dict(self.totals, self.deferral_rate),
            "series": {name: line.to_dict() for name, line in self.series.items()},
        }


@dataclass(frozen=True, slots=True)
class DmarcPanel:
    messages: int
    passed: int
    sources: list[dict[str, Any]]
    source_count: int
    pass_series: Series

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.messages if self.messages else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "dmarc_pass": self.passed,
            "pass_rate": self.pass_rate,
            "sources": list(self.sources),
            "source_count": self.source_count,
            "pass_series": self.pass_series.to_dict(),
        }


@dataclass(frozen=True, slots=True)
class DomainDetail:
    domain: str
    window: Window
    since: datetime
    until: datetime
    step: int
    generated_at: datetime
    overview: DomainOverview
    findings: list[dict[str, Any]]
    changes: list[dict[str, Any]]
    audited_at: datetime | None
    audits: list[dict[str, Any]]
    score_parts: list[dict[str, Any]]
    totals: StatsRow
    deferral_rate: Rate
    rates: dict[str, Series]
    providers: list[ProviderBreakdown]
    thresholds: dict[str, Threshold]
    dmarc: DmarcPanel
    suppressions: dict[str, int]
    alerts: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "window": self.window,
            "since": iso(self.since),
            "until": iso(self.until),
            "step": self.step,
            "generated_at": iso(self.generated_at),
            "overview": self.overview.to_dict(),
            "audit": {
                "checked_at": iso(self.audited_at) if self.audited_at else None,
                "findings": list(self.findings),
                "changes": list(self.changes),
                "history": list(self.audits),
            },
            "score_parts": list(self.score_parts),
            "totals": totals_dict(self.totals, self.deferral_rate),
            "rates": {name: line.to_dict() for name, line in self.rates.items()},
            "providers": [provider.to_dict() for provider in self.providers],
            "thresholds": {name: t.to_dict() for name, t in self.thresholds.items()},
            "dmarc": self.dmarc.to_dict(),
            "suppressions": dict(self.suppressions),
            "alerts": list(self.alerts),
        }


@dataclass(frozen=True, slots=True)
class AlertsPage:
    generated_at: datetime
    active: list[dict[str, Any]]
    recent: list[dict[str, Any]]
    silences: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "generated_at": iso(self.generated_at),
            "active": list(self.active),
            "recent": list(self.recent),
            "silences": list(self.silences),
        }


def active_alerts(alerts: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Alerts that fired and are not resolved (acknowledged ones included; pending ones
    have not fired yet)."""
    return [a for a in alerts if str(a.get("state", "")).lower() not in _INACTIVE_STATES]


def totals_dict(row: StatsRow, deferral: Rate) -> dict[str, Any]:
    data = row.to_dict()
    data["rates"]["deferral_rate"] = deferral.to_dict()
    return data
