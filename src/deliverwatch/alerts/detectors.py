"""Anomaly and trend detectors: pure functions over short series.

Anomaly: a value far from its own baseline. The baseline is the same hour of the week in the
last weeks (mail has strong weekly cycles: Monday 9:00 is not Sunday 3:00), summarized by the
median and the MAD (median absolute deviation, ×1.4826 to estimate a standard deviation),
which one bad week cannot drag. Where fewer than ``min_baseline`` weeks exist (a new domain),
the last hours are smoothed with an EWMA instead. The scale never goes below the sampling
noise of the current point (binomial for a rate, Poisson for a count), so a rate that is
"anomalous" only because few messages were sent does not fire.

Trend: the Theil–Sen slope (the median of the pairwise slopes; robust to one odd day) of daily
rates, projected to the threshold: "complaint rate will cross 0.30% in about 3 days".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median

from deliverwatch.alerts.advice import ACTIONS, CAUSES, METRIC_NAMES
from deliverwatch.alerts.config import RuleConfig
from deliverwatch.alerts.model import ACTIVE, CLEAR, HOLD, Signal, percent

MAD_SCALE = 1.4826


@dataclass(frozen=True, slots=True)
class Point:
    """One observation: a rate (``value``) over ``volume`` messages, or a count (volume)."""

    value: float
    volume: int


def noise_floor(metric: str, centre: float, volume: int) -> float:
    """The standard deviation sampling alone gives a point of ``volume`` messages."""
    if metric == "volume":
        return math.sqrt(max(centre, 1.0))
    p = min(max(centre, 1.0 / max(volume, 1)), 0.5)
    return math.sqrt(p * (1 - p) / max(volume, 1))


def robust_z(metric: str, current: Point, baseline: Sequence[Point]) -> tuple[float, float, float]:
    """(z, median, scale) of ``current`` against ``baseline`` by median and MAD."""
    values = [p.value for p in baseline]
    centre = median(values)
    mad = median(abs(v - centre) for v in values)
    scale = max(MAD_SCALE * mad, noise_floor(metric, centre, current.volume))
    return (current.value - centre) / scale, centre, scale


def ewma_z(
    metric: str, current: Point, history: Sequence[Point], alpha: float
) -> tuple[float, float, float]:
    """(z, mean, scale) of ``current`` against an exponentially weighted mean and variance of
    ``history`` (oldest first)."""
    mean = history[0].value
    variance = 0.0
    for point in history[1:]:
        delta = point.value - mean
        mean += alpha * delta
        variance = (1 - alpha) * (variance + alpha * delta * delta)
    scale = max(math.sqrt(variance), noise_floor(metric, mean, current.volume))
    return (current.value - mean) / scale, mean, scale


def anomaly_signal(
    rule: RuleConfig,
    domain: str,
    current: Point,
    same_hour: Sequence[Point],
    recent: Sequence[Point],
) -> Signal:
    """``same_hour``: the same window 1..N weeks before; ``recent``: the hourly points before
    the window, oldest first (used when ``same_hour`` is too short)."""
    name = METRIC_NAMES.get(rule.metric, rule.metric)
    base = {
        "rule": rule.name,
        "kind": "anomaly",
        "domain": domain,
        "subject": rule.metric,
        "severity": rule.severity,
        "causes": CAUSES.get(rule.metric, ()),
        "actions": ACTIONS.get(rule.metric, ()),
    }
    volume_of = _volume_filter(rule)
    weeks = [p for p in same_hour if volume_of(p)]
    hours = [p for p in recent if volume_of(p)]
    if current.volume == 0 and rule.metric != "volume":
        return Signal(state=CLEAR, **base)  # type: ignore[arg-type]
    if rule.metric != "volume" and current.volume < rule.min_volume:
        return Signal(state=HOLD, **base)  # type: ignore[arg-type]
    if len(weeks) >= rule.min_baseline:
        z, centre, scale = robust_z(rule.metric, current, weeks)
        how = f"median of the same hour in the last {len(weeks)} weeks"
    elif len(hours) >= 3:
        z, centre, scale = ewma_z(rule.metric, current, hours, rule.ewma_alpha)
        how = f"EWMA of the last {len(hours)} hours (short history)"
    else:
        return Signal(state=HOLD, **base)  # type: ignore[arg-type]
    if rule.metric == "volume" and max(current.value, centre) < rule.min_volume:
        return Signal(state=CLEAR, **base)  # type: ignore[arg-type]
    score = {"up": z, "down": -z, "both": abs(z)}[rule.direction]
    values = {"value": current.value, "baseline": centre, "scale": scale, "z": round(z, 2)}
    if score >= rule.z_threshold:
        shown = _show(rule.metric, current.value)
        expected = _show(rule.metric, centre)
        return Signal(
            state=ACTIVE,
            summary=f"{name} of {domain} is {shown}, usually {expected} (z = {z:.1f})",
            evidence=(
                f"{name} {shown} over the last hour ({current.volume:,} messages); {how}: "
                f"{expected}, robust scale {_show(rule.metric, scale)}",
                f"robust z-score {z:.1f} beyond ±{rule.z_threshold:g}",
            ),
            values=values,
            **base,  # type: ignore[arg-type]
        )
    state = CLEAR if score < rule.z_threshold * (1 - rule.hysteresis) else HOLD
    return Signal(state=state, values=values, **base)  # type: ignore[arg-type]


def _volume_filter(rule: RuleConfig):  # type: ignore[no-untyped-def]
    """Baseline points worth comparing with: for a rate, ones with enough messages."""
    floor = 1 if rule.metric == "volume" else max(1, rule.min_volume // 2)

    def keep(point: Point) -> bool:
        return rule.metric == "volume" or point.volume >= floor

    return keep


def _show(metric: str, value: float) -> str:
    return f"{value:,.0f} messages" if metric == "volume" else percent(value)


# -- trend ------------------------------------------------------------------------------------


def theil_sen(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float, float]:
    """(slope, intercept, share of rising pairs) of the Theil–Sen line through the points."""
    slopes = [
        (ys[j] - ys[i]) / (xs[j] - xs[i])
        for i in range(len(xs))
        for j in range(i + 1, len(xs))
        if xs[j] != xs[i]
    ]
    if not slopes:
        return 0.0, median(ys), 0.0
    slope = median(slopes)
    intercept = median(y - slope * x for x, y in zip(xs, ys, strict=True))
    rising = sum(1 for s in slopes if s > 0) / len(slopes)
    return slope, intercept, rising


def describe_eta(days: float) -> str:
    if days < 1:
        hours = max(1, round(days * 24))
        return f"about {hours} hour{'s' if hours != 1 else ''}"
    whole = round(days)
    return f"about {whole} day{'s' if whole != 1 else ''}"


def trend_signal(
    rule: RuleConfig, domain: str, days: Sequence[tuple[float, Point]], now_day: float
) -> Signal:
    """``days``: (day number, daily rate) oldest first; ``now_day``: the day number of now
    (fractional). Active when the rate rises steadily (most pairs rising) and the line crosses
    ``threshold`` within ``horizon``; the point estimate already above it is the rate rule's
    business, so that holds."""
    threshold = rule.threshold if rule.threshold is not None else 0.003
    name = METRIC_NAMES.get(rule.metric, rule.metric)
    base = {
        "rule": rule.name,
        "kind": "trend",
        "domain": domain,
        "subject": rule.metric,
        "severity": rule.severity,
        "causes": CAUSES.get(rule.metric, ()),
        "actions": ACTIONS.get(rule.metric, ()),
    }
    per_day = max(1, rule.min_volume // rule.days)
    usable = [(x, p) for x, p in days if p.volume >= per_day]
    if sum(p.volume for _, p in usable) < rule.min_volume or len(usable) < 4:
        sent = any(p.volume for _, p in days)
        return Signal(state=HOLD if sent else CLEAR, **base)  # type: ignore[arg-type]
    xs = [x for x, _ in usable]
    ys = [p.value for _, p in usable]
    slope, intercept, rising = theil_sen(xs, ys)
    fitted = intercept + slope * now_day
    horizon_days = rule.horizon.total_seconds() / 86400
    values = {
        "slope_per_day": slope,
        "fitted_now": fitted,
        "threshold": threshold,
        "rising_pairs": round(rising, 2),
    }
    if slope <= 0 or rising < 0.6:
        return Signal(state=CLEAR, values=values, **base)  # type: ignore[arg-type]
    if fitted >= threshold:
        return Signal(state=HOLD, values=values, **base)  # type: ignore[arg-type]
    eta = (threshold - fitted) / slope
    values["days_to_cross"] = round(eta, 2)
    if eta <= horizon_days:
        when = describe_eta(eta)
        return Signal(
            state=ACTIVE,
            summary=f"{name} of {domain} will cross {percent(threshold)} in {when} at this trend",
            evidence=(
                f"{name} rising {percent(slope, 3)} a day over {len(usable)} days "
                f"(Theil–Sen; {rising:.0%} of day pairs rising)",
                f"now about {percent(fitted)}; daily: " + ", ".join(percent(y) for y in ys[-7:]),
                f"projected to reach {percent(threshold)} in {when}",
            ),
            values=values,
            **base,  # type: ignore[arg-type]
        )
    state = CLEAR if eta > horizon_days * (1 + rule.hysteresis) else HOLD
    return Signal(state=state, values=values, **base)  # type: ignore[arg-type]
