"""Routes, silences and delivery windows across time zones and DST changes (pure)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from deliverwatch.alerts.config import RouteConfig
from deliverwatch.alerts.routing import (
    default_routes,
    in_window,
    is_held,
    release_time,
    routes_for,
    silence_matches,
)


def route(**values: Any) -> RouteConfig:
    return RouteConfig.model_validate({"name": "r", "channels": ["ops"], **values})


BERLIN_NIGHTS = route(quiet_hours={"timezone": "Europe/Berlin", "start": "22:00", "end": "07:00"})


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_quiet_hours_are_local_time() -> None:
    hours = BERLIN_NIGHTS.quiet_hours
    assert hours is not None
    assert in_window(hours, utc(2026, 1, 15, 21, 30))  # 22:30 CET
    assert not in_window(hours, utc(2026, 1, 15, 20, 30))  # 21:30 CET
    assert in_window(hours, utc(2026, 7, 15, 20, 30))  # 22:30 CEST
    assert not in_window(hours, utc(2026, 7, 15, 5, 30))  # 07:30 CEST


def test_release_at_the_window_end_across_the_spring_dst_change() -> None:
    # Night of 28→29 March 2026: clocks go 02:00 CET → 03:00 CEST. 07:00 CEST = 05:00 UTC.
    held_at = utc(2026, 3, 28, 22, 0)  # 23:00 CET
    assert is_held(BERLIN_NIGHTS, "warning", held_at)
    assert release_time(BERLIN_NIGHTS, "warning", held_at) == utc(2026, 3, 29, 5, 0)
    # the night before, 07:00 CET = 06:00 UTC
    assert release_time(BERLIN_NIGHTS, "warning", utc(2026, 3, 27, 22, 0)) == utc(2026, 3, 28, 6, 0)


def test_release_across_the_autumn_dst_change() -> None:
    # Night of 24→25 October 2026: 03:00 CEST → 02:00 CET. 07:00 CET = 06:00 UTC.
    held_at = utc(2026, 10, 24, 21, 0)  # 23:00 CEST
    assert release_time(BERLIN_NIGHTS, "high", held_at) == utc(2026, 10, 25, 6, 0)


def test_critical_is_never_held() -> None:
    assert release_time(BERLIN_NIGHTS, "critical", utc(2026, 3, 28, 22, 0)) == utc(
        2026, 3, 28, 22, 0
    )


def test_business_hours_in_new_york_hold_over_the_weekend() -> None:
    office = route(
        business_hours={
            "timezone": "America/New_York",
            "days": ["mon", "tue", "wed", "thu", "fri"],
            "start": "09:00",
            "end": "17:00",
        }
    )
    friday_evening = utc(2026, 3, 6, 23, 0)  # Friday 18:00 EST
    # Monday 9 March 09:00 EDT (DST began Sunday 8 March in the US) = 13:00 UTC
    assert release_time(office, "warning", friday_evening) == utc(2026, 3, 9, 13, 0)
    assert not is_held(office, "warning", utc(2026, 3, 9, 14, 0))


def test_routes_match_in_order_and_continue() -> None:
    routes = [
        route(name="pager", match={"severities": ["critical"]}, continue_matching=True),
        route(name="shop", match={"domains": ["*.shop.test", "shop.test"]}),
        route(name="rest"),
    ]
    labels = {"domain": "eu.shop.test", "severity": "critical", "kind": "rate", "rule": "x"}
    assert [r.name for r in routes_for(routes, labels)] == ["pager", "shop"]
    assert [r.name for r in routes_for(routes, {**labels, "severity": "warning"})] == ["shop"]
    assert [r.name for r in routes_for(routes, {"domain": "other.test"})] == ["rest"]
    (implicit,) = default_routes([], ["a", "b"])
    assert implicit.name == "default" and implicit.channels == ["a", "b"]


def test_silence_matchers() -> None:
    labels = {"domain": "shop.test", "rule": "complaint-rate", "severity": "critical"}
    assert silence_matches({"domain": "shop.test"}, labels)
    assert silence_matches({"domain": "*.test", "rule": "complaint-*"}, labels)
    assert not silence_matches({"domain": "shop.test", "severity": "warning"}, labels)
    assert not silence_matches({}, labels)
