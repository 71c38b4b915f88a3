"""The one record every channel renders: a :class:`Notification`.

The alert engine builds one per lifecycle transition (firing, resolved, reminder, escalation,
acknowledged) and hands it to :func:`deliverwatch.notify.outbox.enqueue`; the outbox stores
it as JSON (:meth:`Notification.to_dict`) and rebuilds it (:meth:`Notification.from_dict`)
when it is delivered, possibly by another process after a restart. So everything a message
needs travels inside it: no channel looks anything up at send time.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, cast, get_args

NotificationKind = Literal[
    "firing", "resolved", "reminder", "escalation", "acknowledged", "digest", "test"
]
Severity = Literal["info", "warning", "high", "critical"]

KINDS: tuple[str, ...] = get_args(NotificationKind)
SEVERITIES: tuple[str, ...] = get_args(Severity)


def new_notification_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True, kw_only=True)
class Notification:
    """What happened, where, how bad, why we think so and what to do, for one route.

    ``fingerprint`` identifies the problem (one alert, or the group): PagerDuty uses it as the
    ``dedup_key`` and Alertmanager derives its labels from it, so a resolve closes what the
    trigger opened. ``alerts`` carries the member alerts (``Alert.to_dict()``-like dicts) of a
    grouped notification; it is empty for a single alert. A ``digest`` (the periodic summary)
    carries one dict per domain there instead, and its lines in ``evidence``.
    """

    kind: NotificationKind
    fingerprint: str
    severity: Severity
    title: str
    summary: str
    created_at: datetime
    id: str = field(default_factory=new_notification_id)
    group_key: str = ""
    domain: str | None = None
    evidence: list[str] = field(default_factory=list)
    causes: list[str] = field(default_factory=list)
    actions: list[str] = field(default_factory=list)
    link: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    alerts: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown notification kind {self.kind!r}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"unknown severity {self.severity!r}")
        if self.created_at.tzinfo is None:
            raise ValueError("created_at must be timezone-aware")

    @property
    def is_resolved(self) -> bool:
        return self.kind == "resolved"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: ``created_at`` as ISO 8601 UTC."""
        return {
            "id": self.id,
            "kind": self.kind,
            "fingerprint": self.fingerprint,
            "group_key": self.group_key,
            "severity": self.severity,
            "title": self.title,
            "domain": self.domain,
            "summary": self.summary,
            "evidence": list(self.evidence),
            "causes": list(self.causes),
            "actions": list(self.actions),
            "link": self.link,
            "labels": dict(self.labels),
            "alerts": [dict(a) for a in self.alerts],
            "created_at": self.created_at.astimezone(UTC).isoformat(),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Notification:
        """The inverse of :meth:`to_dict`; unknown keys are ignored (rows written by a newer
        version can still be delivered by an older one during an upgrade)."""
        created = datetime.fromisoformat(str(data["created_at"]))
        if created.tzinfo is None:
            created = created.replace(tzinfo=UTC)
        return cls(
            id=str(data["id"]),
            kind=cast(NotificationKind, data["kind"]),
            fingerprint=str(data["fingerprint"]),
            group_key=str(data.get("group_key") or ""),
            severity=cast(Severity, data["severity"]),
            title=str(data["title"]),
            domain=data.get("domain"),
            summary=str(data.get("summary") or ""),
            evidence=[str(x) for x in data.get("evidence") or []],
            causes=[str(x) for x in data.get("causes") or []],
            actions=[str(x) for x in data.get("actions") or []],
            link=data.get("link"),
            labels={str(k): str(v) for k, v in (data.get("labels") or {}).items()},
            alerts=[dict(a) for a in data.get("alerts") or []],
            created_at=created.astimezone(UTC),
        )


def sample_notification(now: datetime, *, link: str | None = None) -> Notification:
    """The message ``deliverwatch notify test`` sends: a realistic, clearly labelled sample."""
    return Notification(
        kind="test",
        fingerprint="deliverwatch-test",
        group_key="test",
        severity="info",
        title="deliverwatch test notification",
        domain="example.com",
        summary="This is a test of a deliverwatch notification channel. No action is needed.",
        evidence=["complaint rate 0.12% (95% interval 0.10%-0.15%) over 24 h, 41,200 sent"],
        causes=["a test sent with `deliverwatch notify test`"],
        actions=["none: if you can read this, the channel works"],
        link=link,
        labels={"alertname": "deliverwatch_test", "domain": "example.com"},
        created_at=now,
    )


__all__ = [
    "KINDS",
    "SEVERITIES",
    "Notification",
    "NotificationKind",
    "Severity",
    "new_notification_id",
    "sample_notification",
]
