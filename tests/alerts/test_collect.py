"""Detectors on real stored events: the grouped rollup queries feed anomaly and trend."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.engine import Engine

from deliverwatch.alerts.collect import Collector
from deliverwatch.alerts.config import RuleConfig
from deliverwatch.alerts.engine import evaluate
from deliverwatch.clock import FakeClock
from deliverwatch.store import stats
from tests.alerts.conftest import T0, complaint_rule, events, make_config, outbox, store

WEEK = timedelta(days=7)


def rule(**values: object) -> RuleConfig:
    return RuleConfig.model_validate({"name": "r", **values})


def test_rates_match_store_stats(db: Engine) -> None:
    store(db, events(T0 - timedelta(hours=3), delivered=900, complaints=3, hard_bounces=20))
    store(db, events(T0 - timedelta(hours=2), delivered=100, mailbox_provider="yahoo"))
    with db.connect() as conn:
        by_domain, by_provider = Collector(conn, T0).totals(T0 - timedelta(hours=24), T0)
        (row,) = stats(conn, domain="shop.test", since=T0 - timedelta(hours=24), until=T0)
    counts = by_domain[("shop.test", "", 0)]
    assert (counts.sent, counts.delivered, counts.complaints) == (row.sent, row.delivered, 3)
    assert counts.rate("hard_bounce_rate") == row.hard_bounce_rate
    assert by_provider[("shop.test", "yahoo", 0)].delivered == 100


def test_day_minus_hours_plan_counts_exactly_the_window(db: Engine) -> None:
    now = T0 + timedelta(minutes=7)  # 10:07
    for hours_ago in (30, 25, 24.5, 23.9, 14, 9, 0.05):  # 30h, 25h, 24.5h: before it
        store(db, events(now - timedelta(hours=hours_ago), delivered=10, complaints=1))
    since = T0 - timedelta(hours=24)
    with db.connect() as conn:
        by_domain, _ = Collector(conn, now).totals(since, now)
        (row,) = stats(conn, domain="shop.test", since=since, until=now)
    counts = by_domain[("shop.test", "", 0)]
    assert (counts.delivered, counts.complaints) == (row.delivered, row.complaints) == (40, 4)


def test_anomaly_against_the_same_hour_of_past_weeks(db: Engine) -> None:
    hour = T0 - timedelta(minutes=30)  # in the last complete hour (09:00-10:00)
    for week in range(1, 5):
        store(db, events(hour - week * WEEK, delivered=1000, complaints=1))
    store(db, events(hour, delivered=1000, complaints=12))
    anomaly = rule(kind="anomaly", metric="complaint_rate", window="1h", min_volume=200)
    with db.connect() as conn:
        (signal,) = Collector(conn, T0).anomaly(anomaly).signals
    assert signal.state == "active"
    assert "same hour in the last 4 weeks" in signal.evidence[0]


def test_trend_on_daily_rollups_through_the_engine(db: Engine) -> None:
    for day in range(7):  # 0.1% rising 0.1 points a day
        at = T0 - timedelta(days=6 - day, hours=2)
        store(db, events(at, delivered=2000, complaints=2 + 2 * day))
    trend = {
        "name": "trend",
        "kind": "trend",
        "metric": "complaint_rate",
        "threshold": 0.01,
        "min_volume": 500,
        "for": 0,
    }
    result = evaluate(db, make_config(rules=[trend]), FakeClock(T0))
    assert result.fired == 1
    (row,) = outbox(db)
    assert "will cross 1.00% in about 3 days at this trend" in row["title"]


def test_group_wait_gathers_alerts_of_a_domain(db: Engine) -> None:
    clock = FakeClock(T0)
    bounces = complaint_rule(
        name="bounces", metric="hard_bounce_rate", thresholds={"warning": 0.02}, **{"for": 0}
    )
    config = make_config(
        rules=[complaint_rule(window="24h", **{"for": 0}), bounces],
        routes=[{"name": "team", "channels": ["ops"], "group_wait": "2m"}],
    )
    store(db, events(T0 - timedelta(minutes=30), delivered=5000, complaints=40))
    assert evaluate(db, config, clock).held == 1
    clock.advance(timedelta(minutes=1))
    store(db, events(T0, hard_bounces=800))
    evaluate(db, config, clock)
    assert outbox(db) == []
    clock.advance(timedelta(minutes=1))
    evaluate(db, config, clock)
    (row,) = outbox(db)
    assert row["title"] == "[CRITICAL] 2 alerts firing on shop.test"
