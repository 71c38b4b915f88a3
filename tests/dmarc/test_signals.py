"""The alert hooks over DMARC day rows: new sources, failing sources, pass rate per day and
its drop (pure functions; the store side is in tests/store/test_dmarc_more.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from deliverwatch.dmarc.signals import (
    DAY,
    DayVolume,
    failing_sources,
    new_sources,
    pass_rate_by_day,
    pass_rate_change,
)

D0 = 1_700_006_400  # 2023-11-15 00:00 UTC


def row(day: int, ip: str, messages: int, passed: int, domain: str = "example.com") -> DayVolume:
    return DayVolume(D0 + day * DAY, domain, ip, messages, passed, passed, 0)


def at(day: int, hour: int = 0) -> datetime:
    return datetime.fromtimestamp(D0 + day * DAY + hour * 3600, UTC)


ROWS = [
    row(0, "192.0.2.1", 1000, 990),
    row(1, "192.0.2.1", 1000, 995),
    row(5, "192.0.2.1", 800, 400),
    row(5, "198.51.100.9", 300, 0),  # new on day 5, never passes
    row(6, "198.51.100.9", 200, 0),
    row(6, "203.0.113.5", 3, 3, domain="news.example.com"),  # new, tiny
    row(1, "192.0.2.77", 50, 0, domain="other.test"),
]


def test_new_sources_are_those_first_seen_since_the_day() -> None:
    found = new_sources(ROWS, at(5, 13))  # the day counts from its midnight
    assert [(s.source_ip, s.messages, s.failed) for s in found] == [
        ("198.51.100.9", 500, 500),
        ("203.0.113.5", 3, 0),
    ]
    first = found[0]
    assert (first.first_day, first.last_day, first.pass_rate) == (at(5), at(6), 0.0)
    assert first.to_dict()["first_day"] == "2023-11-20"
    assert [s.source_ip for s in new_sources(ROWS, at(5), min_messages=10)] == ["198.51.100.9"]
    assert new_sources(ROWS, at(7)) == []


def test_failing_sources_reach_a_volume() -> None:
    found = failing_sources(ROWS, min_failed=50)
    assert [(s.domain, s.source_ip, s.failed) for s in found] == [
        ("example.com", "198.51.100.9", 500),
        ("example.com", "192.0.2.1", 415),
        ("other.test", "192.0.2.77", 50),
    ]
    recent = failing_sources(ROWS, min_failed=50, since=at(5))
    assert [(s.source_ip, s.failed) for s in recent] == [("198.51.100.9", 500), ("192.0.2.1", 400)]


def test_pass_rate_per_day_and_its_drop() -> None:
    days = pass_rate_by_day(ROWS, "example.com")
    assert [(d.day, d.messages, d.dmarc_pass) for d in days] == [
        (at(0), 1000, 990),
        (at(1), 1000, 995),
        (at(5), 1100, 400),
        (at(6), 203, 3),
    ]
    assert days[0].pass_rate == 0.99 and days[0].to_dict()["day"] == "2023-11-15"
    assert len(pass_rate_by_day(ROWS)) == 4 and pass_rate_by_day(ROWS)[1].messages == 1050

    change = pass_rate_change(days, at(7, 9), recent_days=2, baseline_days=7)
    assert (change.recent_messages, change.baseline_messages) == (1303, 2000)
    assert change.recent_rate == 403 / 1303 and change.baseline_rate == 1985 / 2000
    assert change.drop is not None and 0.68 < change.drop < 0.69
    quiet = pass_rate_change(days, at(30))
    assert (quiet.recent_rate, quiet.drop) == (None, None)
    assert quiet.to_dict()["drop"] is None
