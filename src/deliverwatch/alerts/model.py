"""What the detectors say (:class:`Signal`) and what the store keeps (:class:`Alert`).

A signal is one evaluation of one rule for one subject, in three states:

* ``active``: the evidence holds (the rule would fire);
* ``clear``:  the evidence says the problem is gone;
* ``hold``:   neither: inside the hysteresis band, too little volume to tell, or a DNS
  failure that has not persisted yet. An open alert neither progresses nor clears on it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

SignalState = Literal["active", "clear", "hold"]
AlertState = Literal["pending", "firing", "resolved"]
ACTIVE: SignalState = "active"
CLEAR: SignalState = "clear"
HOLD: SignalState = "hold"


def fingerprint(rule: str, domain: str, provider: str, subject: str) -> str:
    """Stable across runs and versions: the same problem is the same alert."""
    key = "\x1f".join((rule, domain, provider, subject))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class Signal:
    """One rule's verdict on one subject. ``subject`` tells apart several alerts of one rule
    and domain (a finding code, a DMARC source); ``provider`` is the mailbox provider or ''."""

    rule: str
    kind: str
    domain: str
    state: SignalState
    severity: str = "warning"
    provider: str = ""
    subject: str = ""
    summary: str = ""
    evidence: tuple[str, ...] = ()
    causes: tuple[str, ...] = ()
    actions: tuple[str, ...] = ()
    values: dict[str, Any] = field(default_factory=dict)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.rule, self.domain, self.provider, self.subject)

    def details(self) -> dict[str, Any]:
        return {"causes": list(self.causes), "actions": list(self.actions), "values": self.values}


@dataclass(slots=True)
class Alert:
    """An alert as stored (``alerts`` table); mutable while the engine steps it."""

    id: int | None
    fingerprint: str
    rule: str
    kind: str
    domain: str
    provider: str
    subject: str
    severity: str
    state: AlertState
    summary: str
    evidence: list[str]
    details: dict[str, Any]
    started_at: datetime
    last_evaluated_at: datetime
    fired_at: datetime | None = None
    resolved_at: datetime | None = None
    resolved_by: str | None = None
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    last_active_at: datetime | None = None
    last_notified_at: datetime | None = None
    escalated_at: datetime | None = None
    silenced: bool = False
    clear_count: int = 0
    flap_count: int = 0

    @property
    def is_open(self) -> bool:
        return self.state != "resolved"

    def labels(self) -> dict[str, str]:
        """What routes and silences match on."""
        return {
            "rule": self.rule,
            "kind": self.kind,
            "domain": self.domain,
            "mailbox_provider": self.provider,
            "severity": self.severity,
            "subject": self.subject,
            "fingerprint": self.fingerprint,
        }

    def to_dict(self) -> dict[str, Any]:
        details = self.details or {}
        return {
            "id": self.id,
            "fingerprint": self.fingerprint,
            "rule": self.rule,
            "kind": self.kind,
            "domain": self.domain,
            "provider": self.provider or None,
            "subject": self.subject or None,
            "severity": self.severity,
            "state": self.state,
            "summary": self.summary,
            "evidence": list(self.evidence),
            "causes": list(details.get("causes", [])),
            "actions": list(details.get("actions", [])),
            "values": dict(details.get("values", {})),
            "started_at": iso(self.started_at),
            "fired_at": iso(self.fired_at),
            "resolved_at": iso(self.resolved_at),
            "resolved_by": self.resolved_by,
            "acknowledged_at": iso(self.acknowledged_at),
            "acknowledged_by": self.acknowledged_by,
            "last_evaluated_at": iso(self.last_evaluated_at),
            "last_notified_at": iso(self.last_notified_at),
            "escalated_at": iso(self.escalated_at),
            "silenced": self.silenced,
            "flap_count": self.flap_count,
        }


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def percent(value: float | None, digits: int = 2) -> str:
    """0.0031 → '0.31%'; keeps small rates readable."""
    if value is None:
        return "n/a"
    return f"{value * 100:.{digits}f}%"
