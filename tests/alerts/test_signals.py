"""The pure signal functions: the Wilson rate rule, anomaly, trend, DMARC, placement."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from deliverwatch.alerts.config import RuleConfig
from deliverwatch.alerts.detectors import (
    Point,
    anomaly_signal,
    describe_eta,
    robust_z,
    theil_sen,
    trend_signal,
)
from deliverwatch.alerts.signals import (
    PlacementPoint,
    dmarc_new_sources,
    dmarc_pass_rate,
    placement_signals,
    rate_signal,
)
from deliverwatch.dmarc.summary import Volume
from deliverwatch.store.stats import wilson


def rule(**values: Any) -> RuleConfig:
    base: dict[str, Any] = {"name": "r", "kind": "rate", "thresholds": {"warning": 0.02}}
    base.update(values)
    return RuleConfig.model_validate(base)


HARD = rule(metric="hard_bounce_rate", thresholds={"warning": 0.02, "critical": 0.05})


# -- the Wilson rule --------------------------------------------------------------------------


def test_one_bounce_in_twenty_is_five_percent_but_proves_nothing() -> None:
    small = wilson(1, 20)
    assert small.value == 0.05
    assert small.low is not None and small.low < 0.01  # the interval reaches below 1%
    assert rate_signal(HARD, "shop.test", small).state == "hold"  # min volume not met
    lenient = rule(metric="hard_bounce_rate", thresholds={"critical": 0.05}, min_volume=10)
    assert rate_signal(lenient, "shop.test", small).state == "hold"  # interval not above


def test_same_rate_on_enough_volume_fires_with_the_interval_in_the_evidence() -> None:
    signal = rate_signal(HARD, "shop.test", wilson(800, 10_000))
    assert signal.state == "active"
    assert signal.severity == "critical"
    assert "95% interval 7.48%–8.55%" in signal.evidence[0]
    assert "800 of 10,000 sent" in signal.evidence[0]
    assert "above the critical threshold 5.00%" in signal.evidence[1]


def test_severity_is_the_highest_level_the_lower_bound_beats() -> None:
    # 3.5% of 5,000: the interval (3.0%-4.1%) is above 2% but not above 5%
    signal = rate_signal(HARD, "shop.test", wilson(175, 5_000))
    assert (signal.state, signal.severity) == ("active", "warning")


def test_point_estimate_over_threshold_with_wide_interval_holds() -> None:
    # 6 of 200 = 3%, but the lower bound (1.4%) is not above 2%
    assert rate_signal(HARD, "shop.test", wilson(6, 200)).state == "hold"


def test_clears_only_below_the_hysteresis_band() -> None:
    assert rate_signal(HARD, "shop.test", wilson(170, 10_000)).state == "hold"  # 1.7% > 1.6%
    assert rate_signal(HARD, "shop.test", wilson(150, 10_000)).state == "clear"  # 1.5%
    assert rate_signal(HARD, "shop.test", wilson(0, 0)).state == "clear"  # nothing sent


def test_per_provider_signal_names_the_provider() -> None:
    signal = rate_signal(HARD, "shop.test", wilson(800, 10_000), provider="gmail")
    assert signal.provider == "gmail" and "shop.test at gmail" in signal.summary
    other = rate_signal(HARD, "shop.test", wilson(800, 10_000), provider="yahoo")
    assert signal.fingerprint != other.fingerprint


# -- anomaly ----------------------------------------------------------------------------------

ANOMALY = rule(kind="anomaly", metric="complaint_rate", min_volume=200, thresholds={})


def test_robust_z_ignores_one_bad_week() -> None:
    baseline = [Point(0.001, 5000), Point(0.0011, 5000), Point(0.0009, 5000), Point(0.02, 5000)]
    z, centre, _ = robust_z("complaint_rate", Point(0.0012, 5000), baseline)
    assert abs(centre - 0.00105) < 1e-9
    assert z < 4  # the outlier week neither moves the median nor inflates the scale much


def test_anomaly_fires_against_the_same_hour_of_the_week() -> None:
    weeks = [Point(0.001, 5000), Point(0.0012, 5000), Point(0.0009, 5000), Point(0.0011, 5000)]
    signal = anomaly_signal(ANOMALY, "shop.test", Point(0.006, 5000), weeks, [])
    assert signal.state == "active"
    assert "same hour in the last 4 weeks" in signal.evidence[0]
    assert signal.values["z"] > 4
    quiet = anomaly_signal(ANOMALY, "shop.test", Point(0.0011, 5000), weeks, [])
    assert quiet.state == "clear"


def test_anomaly_needs_volume_and_respects_sampling_noise() -> None:
    weeks = [Point(0.001, 5000)] * 4  # MAD 0: the scale falls back to binomial noise
    assert anomaly_signal(ANOMALY, "d", Point(0.01, 100), weeks, []).state == "hold"
    # 2 complaints in 1,000 = 0.2%: within binomial noise of 0.1% at n=1000 (sd 0.1%)
    assert anomaly_signal(ANOMALY, "d", Point(0.002, 1000), weeks, []).state == "clear"


def test_short_history_uses_ewma_of_recent_hours() -> None:
    hours = [Point(0.001 + (i % 3) * 0.0001, 3000) for i in range(12)]
    signal = anomaly_signal(ANOMALY, "new.test", Point(0.008, 3000), [Point(0.001, 3000)], hours)
    assert signal.state == "active"
    assert "EWMA of the last 12 hours" in signal.evidence[0]
    assert anomaly_signal(ANOMALY, "new.test", Point(0.008, 3000), [], []).state == "hold"


def test_volume_anomaly_both_directions() -> None:
    both = rule(kind="anomaly", metric="volume", direction="both", min_volume=100, thresholds={})
    weeks = [Point(10_000, 10_000), Point(10_400, 10_400), Point(9_800, 9_800)]
    assert anomaly_signal(both, "d", Point(60_000, 60_000), weeks, []).state == "active"
    assert anomaly_signal(both, "d", Point(500, 500), weeks, []).state == "active"
    assert anomaly_signal(both, "d", Point(10_100, 10_100), weeks, []).state == "clear"


# -- trend ------------------------------------------------------------------------------------

TREND = rule(kind="trend", metric="complaint_rate", threshold=0.003, min_volume=500, thresholds={})


def test_theil_sen_is_robust_to_one_odd_day() -> None:
    xs = [0, 1, 2, 3, 4, 5]
    ys = [1.0, 2.0, 3.0, 40.0, 5.0, 6.0]
    slope, intercept, rising = theil_sen(xs, ys)
    assert slope == 1.0 and intercept == 1.0
    assert rising > 0.6


def test_trend_projects_the_time_to_cross() -> None:
    # +0.02 points a day from 0.10%: 0.20% on day 5, 0.30% three days after "now" (day 7)
    days = [(d + 0.5, Point(0.001 + 0.0002 * (d + 0.5), 20_000)) for d in range(7)]
    signal = trend_signal(TREND, "shop.test", days, now_day=7.0)
    assert signal.state == "active"
    assert (
        signal.summary
        == "complaint rate of shop.test will cross 0.30% in about 3 days at this trend"
    )
    assert abs(signal.values["days_to_cross"] - 3.0) < 1e-6


def test_flat_or_falling_or_far_trends_do_not_fire() -> None:
    flat = [(d + 0.5, Point(0.001, 20_000)) for d in range(7)]
    assert trend_signal(TREND, "d", flat, 7.0).state == "clear"
    slow = [(d + 0.5, Point(0.001 + 0.00001 * d, 20_000)) for d in range(7)]
    assert trend_signal(TREND, "d", slow, 7.0).state == "clear"  # ~200 days away
    few = [(d + 0.5, Point(0.001 + 0.0002 * d, 20)) for d in range(7)]
    assert trend_signal(TREND, "d", few, 7.0).state == "hold"  # not enough volume


def test_describe_eta() -> None:
    assert describe_eta(0.25) == "about 6 hours"
    assert describe_eta(1.0) == "about 1 day"
    assert describe_eta(2.6) == "about 3 days"


# -- DMARC and placement ----------------------------------------------------------------------


def volume(ip: str, count: int, passed: bool, domain: str = "shop.test") -> Volume:
    return Volume(domain, ip, "google.com", passed, passed, passed, "none", count)


def test_new_failing_dmarc_source_above_volume() -> None:
    dmarc = rule(kind="dmarc", signal="new_source", min_volume=100, thresholds={})
    baseline = [volume("192.0.2.1", 5000, True)]
    recent = [
        volume("192.0.2.1", 4000, True),
        volume("192.0.2.1", 300, False),  # known source: not new
        volume("203.0.113.9", 250, False),
        volume("203.0.113.10", 20, False),  # below volume: hold
        volume("198.51.100.7", 500, False, domain="other.test"),
    ]
    signals = {s.subject: s for s in dmarc_new_sources(dmarc, "shop.test", recent, baseline)}
    assert set(signals) == {"203.0.113.9", "203.0.113.10"}
    assert signals["203.0.113.9"].state == "active"
    assert signals["203.0.113.10"].state == "hold"
    assert "250 of 250 messages from 203.0.113.9 failed DMARC" in signals["203.0.113.9"].evidence[0]


def test_dmarc_pass_rate_drop() -> None:
    dmarc = rule(
        kind="dmarc", signal="pass_rate_drop", threshold=0.1, min_volume=500, thresholds={}
    )
    baseline = [volume("192.0.2.1", 9800, True), volume("192.0.2.2", 200, False)]
    bad = [volume("192.0.2.1", 1500, True), volume("192.0.2.2", 500, False)]
    assert dmarc_pass_rate(dmarc, "shop.test", bad, baseline).state == "active"
    good = [volume("192.0.2.1", 1960, True), volume("192.0.2.2", 40, False)]
    assert dmarc_pass_rate(dmarc, "shop.test", good, baseline).state == "clear"


def test_placement_drop_against_earlier_runs() -> None:
    placement = rule(kind="placement", threshold=0.2, min_volume=5, thresholds={})
    t = datetime(2026, 3, 1, tzinfo=UTC)
    points = [
        PlacementPoint(t + timedelta(days=i), "shop.test", "gmail", inbox, 10)
        for i, inbox in enumerate([9, 10, 9, 4])
    ]
    (signal,) = placement_signals(placement, points)
    assert signal.state == "active"
    assert "4 of 10 seed messages in the inbox" in signal.evidence[0]
    (steady,) = placement_signals(placement, points[:3])
    assert steady.state == "clear"
