"""stats(): windows over minute/hour/day rollups equal raw counts; denominators; Wilson."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Connection, Engine

from deliverwatch.events.model import Event
from deliverwatch.store import begin_write, insert_events, stats, wilson
from deliverwatch.store.rollups import DAY, HOUR, MINUTE, Horizons
from deliverwatch.store.stats import plan_window
from tests.store.factory import T0, event, raw_counts

# Newcombe (1998), "Two-sided confidence intervals for the single proportion", Table I,
# method 3 (Wilson score interval without continuity correction).
NEWCOMBE = [
    (81, 263, 0.2553, 0.3662),
    (15, 148, 0.0624, 0.1605),
    (0, 20, 0.0000, 0.1611),
    (1, 29, 0.0061, 0.1718),
]


@pytest.mark.parametrize(("x", "n", "low", "high"), NEWCOMBE)
def test_wilson_matches_published_intervals(x: int, n: int, low: float, high: float) -> None:
    rate = wilson(x, n)
    assert rate.value == pytest.approx(x / n)
    assert rate.low == pytest.approx(low, abs=5e-5)
    assert rate.high == pytest.approx(high, abs=5e-5)
    assert (rate.numerator, rate.denominator) == (x, n)


def test_wilson_edges() -> None:
    assert wilson(0, 0).value is None and wilson(0, 0).low is None
    half = wilson(5, 10)
    assert half.low == pytest.approx(0.23659, abs=1e-5)
    assert half.high == pytest.approx(0.76341, abs=1e-5)
    everything = wilson(10, 10)
    assert everything.high == 1.0 and everything.low == pytest.approx(0.72247, abs=1e-5)
    capped = wilson(12, 10)  # complaints about mail delivered before the window
    assert capped.value == 1.0 and capped.numerator == 12


def test_plan_covers_the_window_exactly_once() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        since = rng.randrange(0, 40 * DAY)
        until = since + rng.choice([1, 59, 61, 3599, 3601, DAY - 1, DAY + 1, 9 * DAY + 77])
        until += rng.randrange(0, 2 * HOUR)
        minute_from = rng.choice([None, 20 * DAY, 30 * DAY + 5 * HOUR])
        hour_from = rng.choice([None, 10 * DAY]) if minute_from else None
        plan = plan_window(since, until, Horizons(None, minute_from, hour_from, None))
        assert plan.since <= since - since % MINUTE and plan.until >= until
        covered = sorted(span for spans in plan.ranges.values() for span in spans)
        assert covered[0][0] == plan.since and covered[-1][1] == plan.until
        for (_, end), (start, _) in itertools.pairwise(covered):
            assert end == start  # contiguous, no overlap
        for step, spans in plan.ranges.items():
            for a, b in spans:
                assert a % step == 0 and b % step == 0
                if step == MINUTE and minute_from is not None:
                    assert a >= minute_from
                if step == HOUR and hour_from is not None:
                    assert a >= hour_from


def test_plan_uses_days_in_the_middle_and_minutes_at_the_edges() -> None:
    since = 3 * DAY + 5 * HOUR + 7 * MINUTE
    until = 9 * DAY + 2 * HOUR + 11 * MINUTE
    plan = plan_window(since, until)
    assert plan.ranges[DAY] == [(4 * DAY, 9 * DAY)]
    assert plan.ranges[HOUR] == [(3 * DAY + 6 * HOUR, 4 * DAY), (9 * DAY, 9 * DAY + 2 * HOUR)]
    assert plan.ranges[MINUTE] == [(since, 3 * DAY + 6 * HOUR), (9 * DAY + 2 * HOUR, until)]


def random_events(rng: random.Random, count: int, days: int = 4) -> list[Event]:
    kinds = ["sent", "delivered", "bounced", "deferred", "complained", "opened", "clicked"]
    out = []
    for _ in range(count):
        at = T0 + timedelta(seconds=rng.randrange(days * DAY))
        kind = rng.choice(kinds)
        out.append(
            event(
                kind,
                at,
                provider=rng.choice(["ses", "postmark"]),
                mailbox_provider=rng.choice(["gmail", "yahoo", "outlook"]),
                bounce_class=rng.choice(["hard", "soft", "block"]) if kind == "bounced" else None,
            )
        )
    return out


WINDOW_COUNTS = {
    "sent_events": "sent",
    "delivered": "delivered",
    "bounces": "bounced",
    "deferred": "deferred",
    "complaints": "complained",
    "opens": "opened",
    "clicks": "clicked",
}


def test_windows_over_every_granularity_equal_raw_counts(engine: Engine) -> None:
    rng = random.Random(11)
    stored = random_events(rng, 3000)
    with begin_write(engine) as conn:
        insert_events(conn, stored)
    windows = [
        (T0, T0 + timedelta(days=4)),  # whole days
        (T0 + timedelta(hours=3), T0 + timedelta(days=2, hours=5)),  # days + hours
        (T0 + timedelta(minutes=61), T0 + timedelta(days=3, minutes=7)),  # + minutes
        (T0 + timedelta(minutes=5), T0 + timedelta(minutes=50)),  # minutes only
        (T0 + timedelta(seconds=90), T0 + timedelta(hours=30, seconds=30)),  # unaligned
    ]
    windows += [
        (start, start + timedelta(seconds=rng.randrange(60, 3 * DAY)))
        for start in (T0 + timedelta(seconds=rng.randrange(DAY)) for _ in range(25))
    ]
    with engine.connect() as conn:
        for since, until in windows:
            (row,) = stats(conn, domain="shop.test", since=since, until=until)
            raw = raw_counts(stored, since, until)
            got = {name: getattr(row, name) for name in WINDOW_COUNTS}
            assert got == {name: raw[kind] for name, kind in WINDOW_COUNTS.items()}, (since, until)
            # Opens and clicks here are all of distinct messages: unique == total.
            assert (row.unique_opens, row.unique_clicks) == (row.opens, row.clicks)


def test_grouped_rows_add_up_to_the_total(engine: Engine) -> None:
    stored = random_events(random.Random(5), 800, days=3)
    with begin_write(engine) as conn:
        insert_events(conn, stored)
    since, until = T0 + timedelta(hours=7, minutes=13), T0 + timedelta(days=2, hours=20)
    with engine.connect() as conn:
        (total,) = stats(conn, domain=None, since=since, until=until)
        for by in ("mailbox-provider", "provider", "day"):
            rows = stats(conn, domain=None, since=since, until=until, by=by)
            for name in ("delivered", "bounces", "complaints", "opens", "sent_events"):
                assert sum(getattr(r, name) for r in rows) == getattr(total, name), (by, name)
        days = stats(conn, domain=None, since=since, until=until, by="day")
    assert [r.group for r in days] == ["2025-03-10", "2025-03-11", "2025-03-12"]
    assert days[0].since == T0 + timedelta(hours=7, minutes=13)
    assert days[0].until == days[1].since == T0 + timedelta(days=1)
    assert days[-1].until == until


def test_sent_is_the_larger_of_send_events_and_delivered_plus_bounced(conn: Connection) -> None:
    at = T0 + timedelta(minutes=1)
    batch = [event("sent", at, provider="ses") for _ in range(10)]
    batch += [event("delivered", at, provider="ses") for _ in range(8)]
    batch += [event("bounced", at, provider="ses", bounce_class="hard")]
    # postmark reports no send events
    batch += [event("delivered", at, provider="postmark") for _ in range(5)]
    batch += [event("bounced", at, provider="postmark", bounce_class="block") for _ in range(2)]
    batch += [event("dropped", at, provider="postmark")]
    batch += [event("complained", at, provider="postmark")]
    batch += [event("unsubscribed", at, provider="ses")]
    batch += [event("opened", at, provider="ses", message_id="m1") for _ in range(3)]
    insert_events(conn, batch)
    (row,) = stats(conn, domain="shop.test", since=T0, until=T0 + timedelta(hours=1))
    assert (row.sent, row.sent_events, row.delivered, row.bounces) == (17, 10, 13, 3)
    assert (row.hard_bounces, row.block_bounces, row.soft_bounces, row.dropped) == (1, 2, 0, 1)
    assert (row.opens, row.unique_opens) == (3, 1)
    assert row.bounce_rate.numerator == 3 and row.bounce_rate.denominator == 17
    assert row.hard_bounce_rate.value == pytest.approx(1 / 17)
    assert row.complaint_rate.value == pytest.approx(1 / 13)
    assert row.open_rate.value == pytest.approx(1 / 13)
    assert row.unsubscribe_rate.denominator == 13
    assert row.click_rate.value == 0.0 and row.click_rate.high is not None
    by_provider = {
        r.group: r.sent
        for r in stats(
            conn, domain="shop.test", since=T0, until=T0 + timedelta(hours=1), by="provider"
        )
    }
    assert by_provider == {"postmark": 7, "ses": 10}
    doc = row.to_dict()
    assert doc["counts"]["sent"] == 17
    assert set(doc["rates"]["bounce_rate"]) == {"value", "low", "high", "numerator", "denominator"}
    assert doc["since"] == "2025-03-10T00:00:00Z"


def test_domain_filter_and_events_without_a_domain(conn: Connection) -> None:
    at = T0 + timedelta(minutes=3)
    insert_events(
        conn,
        [
            event("delivered", at, domain="shop.test"),
            event("delivered", at, domain="news.test"),
            event("delivered", at, domain=None),
        ],
    )
    until = T0 + timedelta(hours=1)
    assert stats(conn, domain="SHOP.test.", since=T0, until=until)[0].delivered == 1
    assert stats(conn, domain=None, since=T0, until=until)[0].delivered == 3
    empty = stats(conn, domain="other.test", since=T0, until=until)
    assert empty[0].delivered == 0 and empty[0].bounce_rate.value is None
    assert stats(conn, domain="other.test", since=T0, until=until, by="provider") == []


def test_a_window_ending_a_fraction_into_a_minute_counts_that_minute(conn: Connection) -> None:
    # The service asks for "the last 24h" at a moment like 12:01:00.3; an event stored at
    # 12:01:00.1 is in the window, though the window's end in whole seconds is 12:01:00.
    minute_start = T0 + timedelta(days=1, hours=12, minutes=1)
    insert_events(
        conn,
        [
            event("delivered", minute_start + timedelta(milliseconds=100)),
            event("delivered", minute_start - timedelta(seconds=1)),
        ],
    )
    until = minute_start + timedelta(milliseconds=300)
    assert (
        stats(conn, domain="shop.test", since=until - timedelta(days=1), until=until)[0].delivered
        == 2
    )
    exact = stats(conn, domain="shop.test", since=T0, until=minute_start)[0]
    assert exact.delivered == 1  # an end on the whole minute leaves that minute out


def test_bad_arguments_are_refused(conn: Connection) -> None:
    naive = datetime(2025, 3, 10)
    with pytest.raises(ValueError, match="timezone-aware"):
        stats(conn, domain=None, since=naive, until=naive + timedelta(hours=1))
    with pytest.raises(ValueError, match="after since"):
        stats(conn, domain=None, since=T0, until=T0)
    with pytest.raises(ValueError, match="by must be"):
        stats(conn, domain=None, since=T0, until=T0 + timedelta(hours=1), by="week")  # type: ignore[arg-type]
    assert T0.tzinfo is UTC
