"""Is anything wrong with a domain? The status the dashboard and the API show, decided by
a pure function of its rates, its latest audit and its active alerts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from deliverwatch.config import Config
from deliverwatch.service.readers import AuditRecord
from deliverwatch.store.stats import Rate

Status = Literal["ok", "warning", "critical", "unknown"]
STATUS_ORDER: dict[str, int] = {"critical": 0, "warning": 1, "unknown": 2, "ok": 3}
#: A rate is judged only over at least this many messages (its denominator): 1 complaint
#: in 20 deliveries is noise, not a 5% complaint rate.
MIN_VOLUME = 100


@dataclass(frozen=True, slots=True)
class Threshold:
    """Where a rate becomes a warning and where it becomes critical (fractions)."""

    warning: float
    critical: float

    def to_dict(self) -> dict[str, float]:
        return {"warning": self.warning, "critical": self.critical}


#: Defaults: Google's and Yahoo's bulk-sender guidance (complaints under 0.1%, never 0.3%),
#: and common ESP practice for bounces (review over 2%, accounts paused near 5%).
DEFAULT_THRESHOLDS: dict[str, Threshold] = {
    "bounce_rate": Threshold(0.02, 0.05),
    "complaint_rate": Threshold(0.001, 0.003),
    "deferral_rate": Threshold(0.05, 0.15),
}


def judge(
    rates: Mapping[str, Rate],
    sent: int,
    audit: AuditRecord | None,
    alerts: Mapping[str, int],
    thresholds: Mapping[str, Threshold],
) -> tuple[Status, list[str]]:
    """The domain's status and the reasons for it (pure).

    critical: a critical or high alert is active, the latest audit has an error, or a rate
    is over its critical threshold; warning: a warning alert, audit warnings, or a rate over
    its warning threshold; unknown: nothing is known (no audit and no mail), or the audit
    could not finish and nothing else is wrong; otherwise ok. Rates count only over at
    least :data:`MIN_VOLUME` messages (their denominator)."""
    critical: list[str] = []
    warning: list[str] = []
    for severity in ("critical", "high"):
        if alerts.get(severity):
            critical.append(f"{alerts[severity]} {severity} alert(s) active")
    if alerts.get("warning"):
        warning.append(f"{alerts['warning']} warning alert(s) active")
    if audit is not None:
        if audit.status == "error":
            critical.append("the latest audit found errors")
        elif audit.status == "warning":
            warning.append("the latest audit found warnings")
    for name, rate in rates.items():
        limit = thresholds.get(name)
        if limit is None or rate.value is None or rate.denominator < MIN_VOLUME:
            continue
        label = name.replace("_", " ")
        if rate.value >= limit.critical:
            critical.append(f"{label} {rate.value:.2%} ≥ {limit.critical:.2%}")
        elif rate.value >= limit.warning:
            warning.append(f"{label} {rate.value:.2%} ≥ {limit.warning:.2%}")
    if critical:
        return "critical", critical + warning
    if warning:
        return "warning", warning
    if audit is None and sent == 0:
        return "unknown", ["no audit and no mail seen yet"]
    if audit is not None and audit.status == "unknown":
        return "unknown", ["the latest audit could not finish (a lookup failed)"]
    return "ok", []


def thresholds_for(config: Config) -> dict[str, Threshold]:
    """The rate thresholds drawn on charts and used by :func:`judge`: those of the active
    domain-wide ``alerting:`` rate rules (``warning`` and ``critical``, or the lowest and
    highest levels given), and the defaults for rates no rule watches."""
    found = dict(DEFAULT_THRESHOLDS)
    for rule in config.alerting.active_rules():
        if rule.kind != "rate" or rule.per != "domain" or not rule.thresholds:
            continue
        levels = sorted(rule.thresholds.values())
        warning = rule.thresholds.get("warning", levels[0])
        critical = rule.thresholds.get("critical", rule.thresholds.get("high", levels[-1]))
        found[str(rule.metric)] = Threshold(float(warning), float(max(critical, warning)))
    return found
