"""compact(): raw events and fine rollups go, totals stay; horizons move forward only."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest
import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.engine import Connection, Engine

from deliverwatch.config import Config, RetentionSettings
from deliverwatch.events.model import Event
from deliverwatch.store import begin_write, compact, insert_events, stats
from deliverwatch.store.rollups import DAY, HOUR, read_horizons
from deliverwatch.store.schema import (
    events,
    first_engagements,
    rollup_day,
    rollup_hour,
    rollup_minute,
)
from tests.store.factory import T0, event, raw_counts

NOW = T0 + timedelta(days=400, hours=13, minutes=27)
RETENTION = RetentionSettings(
    raw_events_days=30, minute_rollup_days=7, hour_rollup_days=90, rollup_months=13
)


def history(rng: random.Random) -> list[Event]:
    """Events over the last 16 months: some in every retention band."""
    out = []
    for _ in range(2500):
        age = timedelta(seconds=rng.randrange(int(timedelta(days=480).total_seconds())))
        kind = rng.choice(["delivered", "bounced", "opened", "complained"])
        out.append(
            event(
                kind,
                NOW - age,
                bounce_class="hard" if kind == "bounced" else None,
                mailbox_provider=rng.choice(["gmail", "yahoo"]),
            )
        )
    return out


def count(conn: Connection, table: sa.Table) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_compaction_keeps_totals_and_removes_what_retention_says(engine: Engine) -> None:
    stored = history(random.Random(3))
    with begin_write(engine) as conn:
        insert_events(conn, stored)
    windows = [
        (NOW - timedelta(days=300), NOW),  # reaches into hour- and day-only history
        (NOW - timedelta(days=60, minutes=17), NOW - timedelta(days=20, minutes=3)),
        (NOW - timedelta(days=5, minutes=7), NOW - timedelta(hours=2, minutes=1)),
        (NOW - timedelta(days=200), NOW - timedelta(days=100)),
    ]
    with engine.connect() as conn:
        before = [stats(conn, domain="shop.test", since=a, until=b)[0] for a, b in windows]
    with begin_write(engine) as conn:
        result = compact(conn, now=NOW, **RETENTION.model_dump())
        again = compact(conn, now=NOW, **RETENTION.model_dump())
    assert result.events_deleted > 0 and result.minute_rows_deleted > 0
    assert result.hour_rows_deleted > 0 and result.day_rows_deleted > 0
    assert again.to_dict() == dict.fromkeys(again.to_dict(), 0)
    with engine.connect() as conn:
        horizons = read_horizons(conn)
        assert horizons.events_from == int((NOW - timedelta(days=30)).timestamp())
        assert horizons.minute_rollups_from is not None and horizons.minute_rollups_from % HOUR == 0
        assert horizons.hour_rollups_from is not None and horizons.hour_rollups_from % DAY == 0
        cutoff = NOW - timedelta(days=30)
        assert count(conn, events) == sum(1 for e in stored if e.timestamp >= cutoff)
        assert conn.execute(sa.select(sa.func.min(rollup_minute.c.bucket))).scalar_one() >= (
            horizons.minute_rollups_from
        )
        assert conn.execute(sa.select(sa.func.min(rollup_hour.c.bucket))).scalar_one() >= (
            horizons.hour_rollups_from
        )
        oldest_day = conn.execute(sa.select(sa.func.min(rollup_day.c.bucket))).scalar_one()
        assert oldest_day == horizons.rollups_from
        assert oldest_day <= (NOW - timedelta(days=395)).timestamp()
        for (since, until), old in zip(windows, before, strict=True):
            (new,) = stats(conn, domain="shop.test", since=since, until=until)
            raw = raw_counts(stored, new.since, new.until)  # rollups outlive raw events
            assert (new.delivered, new.bounces, new.opens, new.complaints) == (
                raw["delivered"],
                raw["bounced"],
                raw["opened"],
                raw["complained"],
            )
            if (new.since, new.until) == (old.since, old.until):
                assert new.to_dict() == old.to_dict()
        # The 300-day window reaches past the hour rollups: its start is a whole day now.
        (wide,) = stats(conn, domain="shop.test", since=windows[0][0], until=windows[0][1])
        assert int(wide.since.timestamp()) % DAY == 0
        (recent,) = stats(conn, domain="shop.test", since=windows[2][0], until=windows[2][1])
        assert recent.since == windows[2][0] and recent.until == windows[2][1]
        (middle,) = stats(conn, domain="shop.test", since=windows[1][0], until=windows[1][1])
        assert int(middle.since.timestamp()) % HOUR == 0 and middle.since < windows[1][0]


def test_horizons_only_move_forward(conn: Connection) -> None:
    compact(conn, now=NOW, **RETENTION.model_dump())
    first = read_horizons(conn)
    compact(
        conn,
        now=NOW,
        raw_events_days=365,
        minute_rollup_days=60,
        hour_rollup_days=300,
        rollup_months=60,
    )
    assert read_horizons(conn) == first
    compact(conn, now=NOW + timedelta(days=1), **RETENTION.model_dump())
    later = read_horizons(conn)
    assert later.events_from == first.events_from + DAY  # type: ignore[operator]


def test_markers_expire_with_raw_events(conn: Connection) -> None:
    insert_events(
        conn,
        [
            event("opened", NOW - timedelta(days=31), message_id="m1"),
            event("opened", NOW - timedelta(days=2), message_id="m2"),
        ],
    )
    compact(conn, now=NOW, **RETENTION.model_dump())
    assert conn.execute(sa.select(first_engagements.c.message_key)).scalars().all() == ["m2"]


def test_late_events_skip_compacted_granularities(conn: Connection) -> None:
    compact(conn, now=NOW, **RETENTION.model_dump())
    late = event("delivered", NOW - timedelta(days=10, minutes=3))  # past the minute horizon
    insert_events(conn, [late])
    assert count(conn, rollup_minute) == 0
    assert count(conn, rollup_hour) == count(conn, rollup_day) == 1
    (row,) = stats(conn, domain="shop.test", since=NOW - timedelta(days=11), until=NOW)
    assert row.delivered == 1


def test_bad_periods_are_refused(conn: Connection) -> None:
    with pytest.raises(ValueError, match="minute_rollup_days"):
        compact(conn, now=NOW, minute_rollup_days=10, hour_rollup_days=5)


def test_retention_config_defaults_and_validation() -> None:
    assert Config().retention.model_dump() == {
        "raw_events_days": 30,
        "minute_rollup_days": 7,
        "hour_rollup_days": 90,
        "rollup_months": 13,
    }
    with pytest.raises(ValidationError, match="minute_rollup_days must not be more"):
        RetentionSettings(minute_rollup_days=100, hour_rollup_days=90)
    with pytest.raises(ValidationError):
        RetentionSettings(raw_events_days=0)
