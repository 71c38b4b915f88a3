"""Micro-benchmark: ``insert_events`` on SQLite against a bare executemany floor.

The floor (from the issue): "a bare executemany of the same events' main fields into SQLite in
one transaction, JSON parsing included" — read the JSONL file, ``json.loads`` each line, and
``executemany`` a tuple of the main fields into a table without indexes, one transaction.

The measured path reads the same file, builds :class:`Event` records and calls
``insert_events`` in one ``begin_write`` transaction on a migrated store: unique index,
rollups at three granularities, first-open/click markers and suppressions included. Target:
at least 40% of the floor's events per second. ``insert_events`` alone, on Events built
beforehand, is timed too. Then the file is ingested again (all duplicates), and ``stats`` is
timed for one domain over 30 days: on that store, and on a store whose rollups are dense (every
series counted in every minute, hour and day retained: the worst case for ``stats``, whatever
the number of events behind it).

    .venv/bin/python bench/store_ingest.py --events 200000 --days 30
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from deliverwatch.events.model import BounceClass, Event, EventType
from deliverwatch.store import begin_write, insert_events, open_store, stats
from deliverwatch.store.schema import (
    rollup_day,
    rollup_hour,
    rollup_minute,
    rollup_series,
    store_meta,
)
from deliverwatch.store.stats import By

MAILBOX_PROVIDERS = ["gmail", "yahoo", "outlook", "icloud", "other"]
DOMAINS = ["shop.example", "news.example", "billing.example"]
PROVIDERS = ["sendgrid", "ses"]
START = datetime(2025, 1, 1, tzinfo=UTC)


def generate(path: Path, count: int, days: int, seed: int = 1) -> int:
    """Write about ``count`` events as JSONL (``Event.to_dict()``), in message lifecycles:
    sent → delivered or bounced; some deferred first; opens, clicks, complaints, unsubscribes."""
    rng = random.Random(seed)
    written = 0
    with path.open("w") as out:
        message = 0
        while written < count:
            message += 1
            provider = rng.choice(PROVIDERS)
            mbp = rng.choice(MAILBOX_PROVIDERS)
            base = START + timedelta(seconds=rng.randrange(days * 86400))
            common = {
                "provider": provider,
                "recipient": f"user{rng.randrange(count)}@{mbp}.example",
                "recipient_domain": f"{mbp}.example",
                "mailbox_provider": mbp,
                "sending_domain": rng.choice(DOMAINS),
                "message_id": f"<{message}@mail.example>",
                "tags": ["newsletter"],
                "campaign": "spring",
                "ip": "198.51.100.7",
            }
            lifecycle: list[tuple[str, int, str | None]] = [("sent", 0, None)]
            if rng.random() < 0.05:
                lifecycle.append(("deferred", 30, "soft"))
            roll = rng.random()
            if roll < 0.03:
                lifecycle.append(
                    ("bounced", 60, rng.choice(["hard", "soft", "block", "mailbox_full"]))
                )
            else:
                lifecycle.append(("delivered", 5, None))
                if rng.random() < 0.3:
                    for n in range(rng.randint(1, 3)):
                        lifecycle.append(("opened", 600 + 3600 * n, None))
                    if rng.random() < 0.15:
                        lifecycle.append(("clicked", 700, None))
                if rng.random() < 0.002:
                    lifecycle.append(("complained", 7200, None))
                if rng.random() < 0.004:
                    lifecycle.append(("unsubscribed", 7300, None))
            for kind, offset, cls in lifecycle:
                at = base + timedelta(seconds=offset + rng.random())
                written += 1
                record = {
                    **common,
                    "event_id": f"{provider}-{written}",
                    "type": kind,
                    "timestamp": at.isoformat().replace("+00:00", "Z"),
                    "bounce_class": cls,
                    "smtp_status": "5.1.1" if cls == "hard" else None,
                    "diagnostic": None,
                }
                out.write(json.dumps(record) + "\n")
    return written


def event_from_dict(data: dict[str, Any]) -> Event:
    return Event(
        event_id=data["event_id"],
        provider=data["provider"],
        type=EventType(data["type"]),
        timestamp=datetime.fromisoformat(data["timestamp"]),
        recipient=data["recipient"],
        recipient_domain=data["recipient_domain"],
        mailbox_provider=data["mailbox_provider"],
        sending_domain=data["sending_domain"],
        message_id=data["message_id"],
        bounce_class=BounceClass(data["bounce_class"]) if data["bounce_class"] else None,
        smtp_status=data["smtp_status"],
        diagnostic=data["diagnostic"],
        tags=tuple(data["tags"]),
        campaign=data["campaign"],
        ip=data["ip"],
    )


MAIN_FIELDS = (
    "event_id",
    "provider",
    "type",
    "timestamp",
    "recipient",
    "recipient_domain",
    "mailbox_provider",
    "sending_domain",
    "message_id",
    "bounce_class",
)


def floor_run(source: Path, db: Path) -> float:
    """The issue's floor: JSON parsing + one executemany of the main fields, one transaction."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute(f"CREATE TABLE events ({', '.join(MAIN_FIELDS)})")
    placeholders = ", ".join("?" for _ in MAIN_FIELDS)
    started = time.perf_counter()
    with source.open() as lines:
        rows = [tuple(data[f] for f in MAIN_FIELDS) for data in map(json.loads, lines)]
    conn.execute("BEGIN")
    conn.executemany(f"INSERT INTO events VALUES ({placeholders})", rows)
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


def store_run(source: Path, url: str) -> tuple[float, Any]:
    """The measured path: JSON → Event → insert_events, one transaction on a migrated store."""
    engine = open_store(url)
    try:
        started = time.perf_counter()
        with source.open() as lines, begin_write(engine) as conn:
            result = insert_events(conn, (event_from_dict(json.loads(line)) for line in lines))
        return time.perf_counter() - started, result
    finally:
        engine.dispose()


def store_only_run(events: list[Event], url: str) -> float:
    """insert_events alone, on Events built beforehand (what the store itself costs)."""
    engine = open_store(url)
    try:
        started = time.perf_counter()
        with begin_write(engine) as conn:
            insert_events(conn, events)
        return time.perf_counter() - started
    finally:
        engine.dispose()


def stats_latency(url: str, until: datetime, runs: int = 25) -> dict[str, float]:
    """Median ms of ``stats`` for one domain over the 30 days before ``until``."""
    engine = open_store(url)
    since = until - timedelta(days=30)
    out = {}
    try:
        with engine.connect() as conn:
            groupings: tuple[By | None, ...] = (None, "mailbox-provider", "day")
            for by in groupings:
                timings = []
                for _ in range(runs):
                    started = time.perf_counter()
                    stats(conn, domain=DOMAINS[0], since=since, until=until, by=by)
                    timings.append(time.perf_counter() - started)
                out[str(by)] = statistics.median(timings) * 1000
    finally:
        engine.dispose()
    return out


def dense_rollups(url: str, series_per_domain: int, now: datetime) -> int:
    """The worst case for ``stats``: every series of every domain counted in every minute of
    the minute retention (7 days), every hour of 90 days and every day of 13 months, as if
    tens of millions of events had been stored and compacted. Returns the rollup rows made."""
    engine = open_store(url)
    rows = 0
    try:
        with begin_write(engine) as conn:
            for domain in DOMAINS:
                for n in range(series_per_domain):
                    conn.execute(
                        rollup_series.insert().values(
                            sending_domain=domain,
                            mailbox_provider=f"mbp{n % 20}",
                            provider=PROVIDERS[n // 20 % 2],
                            event_type=list(EventType)[n // 40 % len(EventType)].value,
                            bounce_class=str(n // (40 * len(EventType))),
                        )
                    )
            ids = list(conn.execute(sa.select(rollup_series.c.id)).scalars())
            end = int(now.timestamp())
            for table, step, span in (
                (rollup_minute, 60, 7 * 86400),
                (rollup_hour, 3600, 90 * 86400),
                (rollup_day, 86400, 400 * 86400),
            ):
                buckets = range(end - end % step - span, end, step)
                batch = [(sid, b, 7) for sid in ids for b in buckets]
                conn.exec_driver_sql(
                    f"INSERT INTO {table.name} (series_id, bucket, count) VALUES (?, ?, ?)", batch
                )
                rows += len(batch)
            horizons = {
                "minute_rollups_from": end - end % 3600 - 7 * 86400 + 3600,
                "hour_rollups_from": end - end % 86400 - 90 * 86400 + 86400,
            }
            for key, value in horizons.items():
                conn.execute(store_meta.insert().values(key=key, value=str(value)))
    finally:
        engine.dispose()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--days", type=int, default=30, help="days the events are spread over")
    parser.add_argument("--rounds", type=int, default=3, help="best of this many runs")
    parser.add_argument("--dense-series", type=int, default=200, help="series per domain")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dw-bench-") as tmp:
        root = Path(tmp)
        source = root / "events.jsonl"
        count = generate(source, args.events, args.days)
        with source.open() as lines:
            built = [event_from_dict(json.loads(line)) for line in lines]
        floors, stores, store_only = [], [], []
        for i in range(args.rounds):  # interleaved, so a busy machine hurts all alike
            floors.append(floor_run(source, root / f"floor{i}.db"))
            elapsed, result = store_run(source, f"sqlite:///{root / f'store{i}.db'}")
            stores.append(elapsed)
            store_only.append(store_only_run(built, f"sqlite:///{root / f'only{i}.db'}"))
        url = f"sqlite:///{root / 'store0.db'}"
        again, duplicate = store_run(source, url)
        latency = stats_latency(url, START + timedelta(days=30, hours=7, minutes=13))
        now = datetime(2026, 6, 1, 13, 47, tzinfo=UTC)
        dense_url = f"sqlite:///{root / 'dense.db'}"
        dense_rows = dense_rollups(dense_url, args.dense_series, now)
        dense = stats_latency(dense_url, now)
    floor, best, only = min(floors), min(stores), min(store_only)
    us = 1e6 / count
    print(f"events: {count:,} over {args.days} days; best of {args.rounds}")
    print(
        f"floor (json + bare executemany):   {count / floor:>9,.0f} events/s ({floor * us:.1f} us)"
    )
    print(
        f"json + Event + insert_events:      {count / best:>9,.0f} events/s ({best * us:.1f} us)"
        f" = {floor / best:.0%} of the floor (target >= 40%)  {result}"
    )
    print(
        f"insert_events alone (built Events): {count / only:>8,.0f} events/s ({only * us:.1f} us)"
    )
    print(f"re-ingest, all duplicates:         {count / again:>9,.0f} events/s  {duplicate}")
    print(
        "stats, one domain, 30 days (median ms): "
        + ", ".join(f"by={by}: {ms:.1f}" for by, ms in latency.items())
    )
    print(
        f"stats on dense rollups ({dense_rows:,} rows, {args.dense_series} series per domain; "
        "median ms): " + ", ".join(f"by={by}: {ms:.1f}" for by, ms in dense.items())
    )


if __name__ == "__main__":
    main()
