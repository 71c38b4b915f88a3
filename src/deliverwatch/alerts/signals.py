"""Pure signal functions for rates, DMARC and inbox placement: numbers in, :class:`Signal` out.

The rate rule (docs/alerts.md): a rate alert fires only when the volume is at least
``min_volume`` and the 95% Wilson lower bound of the rate is above the threshold; it clears
when the point estimate falls below ``threshold × (1 − hysteresis)``; in between it holds.
One bounce in 20 sends is 5% but its interval is 0.9%–23.6%: nothing is proven, nothing fires.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median

from deliverwatch.alerts.advice import ACTIONS, CAUSES, METRIC_NAMES
from deliverwatch.alerts.config import RuleConfig, severity_rank
from deliverwatch.alerts.model import ACTIVE, CLEAR, HOLD, Signal, percent
from deliverwatch.dmarc.summary import Volume
from deliverwatch.store.stats import Rate, wilson


def describe_window(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    if seconds % 86400 == 0:
        return f"{seconds // 86400}d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    return f"{seconds // 60}m"


def rate_evidence(metric: str, rate: Rate, window: timedelta) -> str:
    name = METRIC_NAMES.get(metric, metric)
    denominator = "delivered" if metric == "complaint_rate" else "sent"
    return (
        f"{name} {percent(rate.value)} (95% interval {percent(rate.low)}–{percent(rate.high)}) "
        f"over {describe_window(window)}: {rate.numerator:,} of {rate.denominator:,} {denominator}"
    )


def clearly_clear(rule: RuleConfig, numerator: int, denominator: int) -> bool:
    """True when the rate rule would say clear without computing an interval: nothing sent,
    or a point estimate under the hysteresis band (the lower bound is never above it). The
    engine skips most subjects with this before building a :class:`Rate`."""
    if denominator <= 0:
        return True
    if denominator < rule.min_volume or not rule.thresholds:
        return False
    return numerator / denominator <= min(rule.thresholds.values()) * (1 - rule.hysteresis)


def rate_signal(rule: RuleConfig, domain: str, rate: Rate, provider: str = "") -> Signal:
    """The rate rule on one rate (a domain's, or a domain's at one mailbox provider). Clear
    and hold signals carry no words: only an active one becomes an alert's text."""
    if rate.denominator <= 0 or rate.value is None or rate.low is None:
        state = CLEAR
    elif rate.denominator < rule.min_volume:
        state = HOLD
    else:
        levels = sorted(
            rule.thresholds.items(), key=lambda item: (-item[1], -severity_rank(item[0]))
        )
        for severity, threshold in levels:
            if rate.low > threshold:
                return _rate_alert(rule, domain, rate, provider, severity, threshold)
        lowest = min(rule.thresholds.values())
        state = CLEAR if rate.value <= lowest * (1 - rule.hysteresis) else HOLD
    return Signal(
        rule=rule.name,
        kind="rate",
        domain=domain,
        provider=provider,
        subject=rule.metric,
        state=state,
    )


def _rate_alert(
    rule: RuleConfig, domain: str, rate: Rate, provider: str, severity: str, threshold: float
) -> Signal:
    name = METRIC_NAMES.get(rule.metric, rule.metric)
    where = f"{domain} at {provider}" if provider else domain
    return Signal(
        rule=rule.name,
        kind="rate",
        domain=domain,
        provider=provider,
        subject=rule.metric,
        state=ACTIVE,
        severity=severity,
        summary=f"{name} {percent(rate.value)} on {where} is above {percent(threshold)}",
        evidence=(
            rate_evidence(rule.metric, rate, rule.window),
            f"the lower bound {percent(rate.low)} is above the {severity} threshold "
            f"{percent(threshold)}",
        ),
        causes=CAUSES.get(rule.metric, ()),
        actions=ACTIONS.get(rule.metric, ()),
        values={"rate": rate.to_dict(), "thresholds": dict(rule.thresholds)},
    )


# -- DMARC ------------------------------------------------------------------------------------


def _belongs(volume_domain: str, domain: str) -> bool:
    return volume_domain == domain or volume_domain.endswith("." + domain)


def dmarc_new_sources(
    rule: RuleConfig, domain: str, recent: Iterable[Volume], baseline: Iterable[Volume]
) -> list[Signal]:
    """A source IP failing DMARC for ``domain`` with at least ``min_volume`` messages in the
    recent window that sent nothing for it in the baseline before: a new service not set up
    yet, or spoofing. One signal per source; sources no longer failing are simply absent."""
    known = {v.source_ip for v in baseline if _belongs(v.domain, domain)}
    failing: dict[str, int] = defaultdict(int)
    total: dict[str, int] = defaultdict(int)
    for volume in recent:
        if not _belongs(volume.domain, domain) or volume.source_ip in known:
            continue
        total[volume.source_ip] += volume.count
        if not volume.dmarc_pass:
            failing[volume.source_ip] += volume.count
    signals = []
    for source, count in sorted(failing.items()):
        state = ACTIVE if count >= rule.min_volume else HOLD
        signals.append(
            Signal(
                rule=rule.name,
                kind="dmarc",
                domain=domain,
                subject=source,
                state=state,
                severity=rule.severity,
                summary=f"new source {source} fails DMARC for {domain} ({count:,} messages)",
                evidence=(
                    f"{count:,} of {total[source]:,} messages from {source} failed DMARC over "
                    f"{describe_window(rule.window)}; none seen from it in the "
                    f"{describe_window(rule.baseline)} before",
                ),
                causes=CAUSES["dmarc"],
                actions=ACTIONS["dmarc"],
                values={"source_ip": source, "failing": count, "messages": total[source]},
            )
        )
    return signals


def dmarc_pass_rate(
    rule: RuleConfig, domain: str, recent: Iterable[Volume], baseline: Iterable[Volume]
) -> Signal:
    """The aligned pass rate of the recent window against the baseline before it: active when
    it dropped by at least ``threshold`` (0.1 = ten points) and the recent interval is wholly
    below the baseline rate."""
    drop = rule.threshold if rule.threshold is not None else 0.1
    now = _pass_rate(recent, domain)
    before = _pass_rate(baseline, domain)
    base = {
        "rule": rule.name,
        "kind": "dmarc",
        "domain": domain,
        "subject": "pass_rate",
        "severity": rule.severity,
        "causes": CAUSES["dmarc"],
        "actions": ACTIONS["dmarc"],
        "values": {"recent": now.to_dict(), "baseline": before.to_dict()},
    }
    if now.value is None or before.value is None or now.high is None:
        return Signal(state=CLEAR, **base)  # type: ignore[arg-type]
    if now.denominator < rule.min_volume or before.denominator < rule.min_volume:
        return Signal(state=HOLD, **base)  # type: ignore[arg-type]
    fall = before.value - now.value
    if fall >= drop and now.high < before.value:
        return Signal(
            state=ACTIVE,
            summary=f"DMARC pass rate of {domain} fell to {percent(now.value, 1)} "
            f"from {percent(before.value, 1)}",
            evidence=(
                f"aligned pass {percent(now.value, 1)} (95% interval {percent(now.low, 1)}–"
                f"{percent(now.high, 1)}) of {now.denominator:,} messages over "
                f"{describe_window(rule.window)}",
                f"baseline {percent(before.value, 1)} of {before.denominator:,} messages over "
                f"the {describe_window(rule.baseline)} before",
            ),
            **base,  # type: ignore[arg-type]
        )
    if fall < drop * (1 - rule.hysteresis):
        return Signal(state=CLEAR, **base)  # type: ignore[arg-type]
    return Signal(state=HOLD, **base)  # type: ignore[arg-type]


def _pass_rate(volumes: Iterable[Volume], domain: str) -> Rate:
    passed = total = 0
    for volume in volumes:
        if _belongs(volume.domain, domain):
            total += volume.count
            passed += volume.count if volume.dmarc_pass else 0
    return wilson(passed, total)


# -- inbox placement --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlacementPoint:
    """One placement test result: of ``total`` seed messages to ``provider`` (or '' for all),
    ``inbox`` landed in the inbox."""

    at: datetime
    domain: str
    provider: str
    inbox: int
    total: int


def placement_signals(rule: RuleConfig, points: Sequence[PlacementPoint]) -> list[Signal]:
    """The latest run's inbox rate per (domain, provider) against the median of the earlier
    runs: active when it dropped by at least ``threshold`` with ``min_volume`` seeds."""
    drop = rule.threshold if rule.threshold is not None else 0.2
    series: dict[tuple[str, str], list[PlacementPoint]] = defaultdict(list)
    for point in points:
        series[(point.domain, point.provider)].append(point)
    signals = []
    for (domain, provider), items in sorted(series.items()):
        items.sort(key=lambda p: p.at, reverse=True)
        latest, earlier = items[0], [p for p in items[1:] if p.total > 0]
        base = {
            "rule": rule.name,
            "kind": "placement",
            "domain": domain,
            "provider": provider,
            "subject": "inbox_rate",
            "severity": rule.severity,
            "causes": CAUSES["placement"],
            "actions": ACTIONS["placement"],
        }
        if latest.total < rule.min_volume or not earlier:
            signals.append(Signal(state=HOLD, **base))  # type: ignore[arg-type]
            continue
        now = latest.inbox / latest.total
        before = median(p.inbox / p.total for p in earlier)
        values = {"inbox_rate": now, "baseline": before, "seeds": latest.total}
        if before - now >= drop:
            where = f"{domain} at {provider}" if provider else domain
            signals.append(
                Signal(
                    state=ACTIVE,
                    summary=f"inbox placement of {where} fell to {percent(now, 0)} "
                    f"from {percent(before, 0)}",
                    evidence=(
                        f"{latest.inbox} of {latest.total} seed messages in the inbox; median "
                        f"of the {len(earlier)} runs before: {percent(before, 0)}",
                    ),
                    values=values,
                    **base,  # type: ignore[arg-type]
                )
            )
        else:
            state = CLEAR if before - now < drop * (1 - rule.hysteresis) else HOLD
            signals.append(Signal(state=state, values=values, **base))  # type: ignore[arg-type]
    return signals
