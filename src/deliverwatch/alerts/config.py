"""The ``alerting:`` section of ``deliverwatch.yaml``: rules, routes, quiet hours.

With no section at all the built-in rules of :data:`DEFAULT_RULES` run (bulk-sender complaint
and hard-bounce thresholds, audit regressions, anomaly, trend, DMARC and placement checks, each
with a minimum volume), routed to every channel of ``notifications.channels``. A rule of the
same name in ``alerting.rules`` replaces the built-in one; ``default_rules: false`` drops them.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BeforeValidator, ConfigDict, Field, field_validator, model_validator

from deliverwatch.config import StrList, _Model

Severity = Literal["info", "warning", "high", "critical"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "high", "critical")
Kind = Literal["rate", "regression", "anomaly", "trend", "dmarc", "placement"]
Metric = Literal["complaint_rate", "hard_bounce_rate", "bounce_rate", "deferral_rate", "volume"]
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_DURATION = re.compile(r"^(\d+)\s*([smhdw]?)$")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> Any:
    """``0``, ``90`` (seconds), ``30s``, ``5m``, ``4h``, ``2d``, ``1w`` → timedelta."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        match = _DURATION.match(value.strip().lower())
        if not match:
            raise ValueError(f"{value!r} is not a duration like 0, 30s, 5m, 4h, 2d or 1w")
        return timedelta(seconds=int(match.group(1)) * _SECONDS[match.group(2)])
    return value


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0


class RuleConfig(_Model):
    """One alert rule. Keys that do not apply to ``kind`` are ignored (docs/alerts.md)."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$")
    kind: Kind
    enabled: bool = True
    metric: Metric = "complaint_rate"
    per: Literal["domain", "mailbox_provider"] = "domain"
    #: rate: severity → threshold; the highest level whose threshold the evidence beats wins
    thresholds: dict[Severity, float] = Field(default_factory=dict)
    #: trend: the value the projection is about; dmarc/placement: the drop that counts
    threshold: float | None = Field(None, ge=0)
    severity: Severity = "warning"
    min_volume: int = Field(100, ge=0)
    window: Duration = timedelta(hours=24)
    hysteresis: float = Field(0.2, ge=0, lt=1)
    for_: Duration = Field(timedelta(minutes=10), alias="for")
    repeat_interval: Duration = timedelta(hours=4)
    clear_after: int = Field(3, ge=1, le=1000)
    # anomaly
    z_threshold: float = Field(4.0, gt=0)
    baseline_weeks: int = Field(4, ge=1, le=52)
    min_baseline: int = Field(3, ge=2, le=52)
    ewma_alpha: float = Field(0.3, gt=0, le=1)
    ewma_hours: int = Field(24, ge=3, le=24 * 14)
    direction: Literal["up", "down", "both"] = "up"
    # trend
    days: int = Field(7, ge=3, le=90)
    horizon: Duration = timedelta(days=7)
    # regression
    persist_audits: int = Field(3, ge=1, le=100)
    # dmarc
    signal: Literal["new_source", "pass_rate_drop"] = "new_source"
    baseline: Duration = timedelta(days=30)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("thresholds")
    @classmethod
    def _rates(cls, value: dict[str, float]) -> dict[str, float]:
        for severity, threshold in value.items():
            if not 0 <= threshold <= 1:
                raise ValueError(f"{severity}: a rate threshold is a fraction 0-1 (0.003 = 0.3%)")
        return value

    @model_validator(mode="after")
    def _complete(self) -> RuleConfig:
        if self.kind == "rate" and not self.thresholds:
            raise ValueError(f"rule {self.name}: a rate rule needs thresholds")
        if self.kind == "rate" and self.metric == "volume":
            raise ValueError(f"rule {self.name}: volume is not a rate (use kind anomaly)")
        if self.kind == "trend" and self.threshold is None:
            raise ValueError(f"rule {self.name}: a trend rule needs threshold")
        return self


class HoursConfig(_Model):
    """A weekly window in a time zone: ``start``–``end`` local time on ``days`` (an ``end``
    before ``start`` runs past midnight into the next day)."""

    timezone: str = "UTC"
    days: list[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]] = Field(
        default_factory=lambda: list(DAYS)  # type: ignore[arg-type]
    )
    start: time
    end: time

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not an IANA time zone (Europe/Berlin)") from None
        return value


class MatchConfig(_Model):
    """What a route takes; every given key must match (a list matches any of its items;
    ``domains`` and ``rules`` take shell patterns like ``*.example.com``)."""

    domains: StrList = Field(default_factory=list)
    severities: list[Severity] = Field(default_factory=list)
    kinds: list[Kind] = Field(default_factory=list)
    rules: StrList = Field(default_factory=list)
    mailbox_providers: StrList = Field(default_factory=list)
    labels: dict[str, str] = Field(default_factory=dict)


class RouteConfig(_Model):
    """Where matching alerts go, and when."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    match: MatchConfig = MatchConfig()
    channels: StrList = Field(default_factory=list)
    group_by: list[Literal["domain"]] = Field(default_factory=lambda: ["domain"])  # type: ignore[arg-type]
    group_wait: Duration = timedelta(0)
    quiet_hours: HoursConfig | None = None
    business_hours: HoursConfig | None = None
    escalate_to: str | None = None
    escalate_after: Duration = timedelta(minutes=30)
    continue_matching: bool = False


class AlertingSettings(_Model):
    """``alerting:``: the rules evaluated, the routes notifications take."""

    enabled: bool = True
    default_rules: bool = True
    rules: list[RuleConfig] = Field(default_factory=list)
    routes: list[RouteConfig] = Field(default_factory=list)
    flap_window: Duration = timedelta(hours=6)
    max_flap_factor: int = Field(16, ge=1, le=1024)

    @model_validator(mode="after")
    def _names(self) -> AlertingSettings:
        for what, names in (
            ("rules", [r.name for r in self.rules]),
            ("routes", [r.name for r in self.routes]),
        ):
            duplicated = sorted({n for n in names if names.count(n) > 1})
            if duplicated:
                raise ValueError(f"{what}: duplicate name(s) {', '.join(duplicated)}")
        routes = {r.name for r in self.routes}
        for route in self.routes:
            if route.escalate_to is not None and route.escalate_to not in routes:
                raise ValueError(f"routes: {route.name}: escalate_to {route.escalate_to!r} unknown")
        return self

    def active_rules(self) -> list[RuleConfig]:
        """The built-in rules (unless switched off or replaced by name), then the others."""
        if not self.enabled:
            return []
        own = {rule.name: rule for rule in self.rules}
        rules = [own.pop(r.name, r) for r in DEFAULT_RULES] if self.default_rules else []
        rules += [rule for rule in self.rules if rule.name in own]
        return [rule for rule in rules if rule.enabled]


def _rule(**values: Any) -> RuleConfig:
    return RuleConfig.model_validate(values)


#: Bulk-sender thresholds (Gmail/Yahoo 2024: keep spam complaints under 0.1%, never reach
#: 0.3%); hard bounces over 2% point at list quality, over 5% at a bad list.
COMPLAINT = {"warning": 0.001, "critical": 0.003}
HARD_BOUNCE = {"warning": 0.02, "critical": 0.05}

DEFAULT_RULES: tuple[RuleConfig, ...] = (
    _rule(name="complaint-rate", kind="rate", metric="complaint_rate", thresholds=COMPLAINT),
    _rule(
        name="complaint-rate-provider",
        kind="rate",
        metric="complaint_rate",
        per="mailbox_provider",
        thresholds=COMPLAINT,
    ),
    _rule(name="hard-bounce-rate", kind="rate", metric="hard_bounce_rate", thresholds=HARD_BOUNCE),
    _rule(
        name="hard-bounce-rate-provider",
        kind="rate",
        metric="hard_bounce_rate",
        per="mailbox_provider",
        thresholds=HARD_BOUNCE,
    ),
    _rule(name="auth-regression", kind="regression", **{"for": 0}, clear_after=1),
    _rule(
        name="complaint-anomaly",
        kind="anomaly",
        metric="complaint_rate",
        window=3600,
        min_volume=200,
    ),
    _rule(
        name="complaint-trend",
        kind="trend",
        metric="complaint_rate",
        threshold=0.003,
        min_volume=500,
        **{"for": 0},
        clear_after=1,
    ),
    _rule(
        name="dmarc-new-failing-source",
        kind="dmarc",
        signal="new_source",
        window=2 * 86400,
        min_volume=100,
        **{"for": 0},
        clear_after=1,
    ),
    _rule(
        name="dmarc-pass-rate-drop",
        kind="dmarc",
        signal="pass_rate_drop",
        window=2 * 86400,
        threshold=0.1,
        min_volume=500,
        **{"for": 0},
        clear_after=1,
    ),
    _rule(
        name="inbox-placement-drop",
        kind="placement",
        threshold=0.2,
        min_volume=5,
        window=7 * 86400,
        **{"for": 0},
        clear_after=1,
    ),
)
