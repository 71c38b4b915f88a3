"""One alert evaluation cycle over 1,000 domains × 10 rules (target: under 1 s).

The store is a real SQLite file as the service opens it. Each domain sends to three mailbox
providers through one ESP; its counts (sent, delivered, hard and soft bounces, complaints,
deferrals) are written through the store's own rollup path (``RollupDeltas`` +
``add_to_rollups``, which fills the minute, hour and day rollups exactly as ``insert_events``
does) at one point per hour over the last 8 days, plus the hour around now in each of the 4
weeks before (the anomaly baseline). 1% of the domains have a complaint problem, so alerts
open, fire and notify. Each domain also has two stored audits (``history.record_audit``).

Timed: the first cycle (every domain's audit history read, alerts created and notified),
then ``--runs`` steady-state cycles at the same instant (median and max), for the built-in
rule set (``default``) and an event-heavy set (``rates``: ten rate/anomaly/trend rules).

    .venv/bin/python bench/alert_eval.py --dir /tmp/dw-alerts   # 1,000 domains, both rule sets
    .venv/bin/python bench/alert_eval.py --domains 200 --runs 3

The store in ``--dir`` is seeded once (about a minute for 1,000 domains) and reused; each run
first deletes the alert state and the outbox, so the first cycle is always a first cycle.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from deliverwatch.alerts.engine import evaluate  # noqa: E402
from deliverwatch.clock import FakeClock  # noqa: E402
from deliverwatch.config import Config  # noqa: E402
from deliverwatch.store import begin_write, open_store  # noqa: E402
from deliverwatch.store.rollups import RollupDeltas, add_to_rollups  # noqa: E402

NOW = datetime(2026, 3, 4, 10, 7, tzinfo=UTC)
PROVIDERS = ("gmail", "yahoo", "outlook")
RATE_RULES: list[dict[str, Any]] = [
    {
        "name": "complaint",
        "kind": "rate",
        "metric": "complaint_rate",
        "thresholds": {"warning": 0.001, "critical": 0.003},
    },
    {
        "name": "complaint-mbp",
        "kind": "rate",
        "metric": "complaint_rate",
        "per": "mailbox_provider",
        "thresholds": {"warning": 0.001, "critical": 0.003},
    },
    {
        "name": "hard",
        "kind": "rate",
        "metric": "hard_bounce_rate",
        "thresholds": {"warning": 0.02, "critical": 0.05},
    },
    {
        "name": "hard-mbp",
        "kind": "rate",
        "metric": "hard_bounce_rate",
        "per": "mailbox_provider",
        "thresholds": {"warning": 0.02, "critical": 0.05},
    },
    {"name": "bounce", "kind": "rate", "metric": "bounce_rate", "thresholds": {"warning": 0.05}},
    {"name": "deferral", "kind": "rate", "metric": "deferral_rate", "thresholds": {"warning": 0.2}},
    {"name": "complaint-anomaly", "kind": "anomaly", "metric": "complaint_rate", "window": "1h"},
    {
        "name": "volume-anomaly",
        "kind": "anomaly",
        "metric": "volume",
        "window": "1h",
        "direction": "both",
    },
    {"name": "complaint-trend", "kind": "trend", "metric": "complaint_rate", "threshold": 0.003},
    {"name": "hard-trend", "kind": "trend", "metric": "hard_bounce_rate", "threshold": 0.05},
]


def seed(url: str, domains: int, rng: random.Random) -> None:
    engine = open_store(url)
    now = int(NOW.timestamp())
    hours = [now - h * 3600 for h in range(8 * 24)]
    hours += [now - w * 7 * 86400 + d for w in range(1, 5) for d in (-3600, 0)]
    bad = {f"d{i:04d}.test" for i in range(0, domains, 100)}
    started = time.perf_counter()
    for first in range(0, domains, 50):
        deltas = RollupDeltas()
        for i in range(first, min(first + 50, domains)):
            domain = f"d{i:04d}.test"
            complaint = 0.008 if domain in bad else 0.0004
            for provider in PROVIDERS:
                for at in hours:
                    sent = rng.randint(80, 120)
                    hard = rng.randint(0, 2)
                    soft = rng.randint(0, 2)
                    delivered = sent - hard - soft
                    for (kind, bounce), n in (
                        (("sent", ""), sent),
                        (("delivered", ""), delivered),
                        (("bounced", "hard"), hard),
                        (("bounced", "soft"), soft),
                        (("complained", ""), int(delivered * complaint + rng.random())),
                        (("deferred", ""), rng.randint(0, 5)),
                    ):
                        if n:
                            deltas.add((domain, provider, "sendgrid", kind, bounce), at + 1020, n)
        with begin_write(engine) as conn:
            add_to_rollups(conn, deltas)
    from tests.history.reports import changed, finding, good_report

    from deliverwatch.history.store import record_audit

    with begin_write(engine) as conn:
        for i in range(domains):
            domain = f"d{i:04d}.test"
            report = good_report(domain)
            record_audit(conn, report, NOW - timedelta(hours=2))
            if i % 100 == 50:
                report = changed(report, findings=[finding("spf.too_many_lookups", "error")])
            record_audit(conn, report, NOW - timedelta(hours=1))
    print(f"seeded {domains} domains in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    engine.dispose()


def forget_alerts(url: str) -> None:
    """Back to a store with events and audits but no alert state (a reused store)."""
    import sqlalchemy as sa

    from deliverwatch.alerts.engine import AUDIT_CURSOR
    from deliverwatch.store.schema import (
        alert_notices,
        alert_silences,
        alert_transitions,
        alerts,
        notification_outbox,
        store_meta,
    )

    engine = open_store(url)
    with begin_write(engine) as conn:
        for table in (
            alert_notices,
            alert_transitions,
            alert_silences,
            alerts,
            notification_outbox,
        ):
            conn.execute(sa.delete(table))
        conn.execute(sa.delete(store_meta).where(store_meta.c.key == AUDIT_CURSOR))
    engine.dispose()


def config(url: str, rule_set: str) -> Config:
    alerting: dict[str, Any] = {"default_rules": rule_set == "default"}
    if rule_set == "rates":
        alerting["rules"] = RATE_RULES
    return Config.model_validate(
        {
            "database_url": url,
            "notifications": {
                "channels": [{"name": "hook", "type": "webhook", "url": "http://127.0.0.1:9/"}]
            },
            "alerting": alerting,
        }
    )


def measure(url: str, rule_set: str, runs: int) -> dict[str, Any]:
    from deliverwatch.alerts import collect
    from deliverwatch.store import create_engine

    collect._SETTLED.clear()  # a new process: nothing kept from the other rule set
    engine = create_engine(url)
    cfg = config(url, rule_set)
    clock = FakeClock(NOW)
    first = evaluate(engine, cfg, clock)
    times, cpu = [], []
    last = first
    for _ in range(runs):
        started, started_cpu = time.perf_counter(), time.process_time()
        last = evaluate(engine, cfg, clock)
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - started_cpu)
    engine.dispose()
    return {
        "rules": first.rules,
        "first": first.seconds,
        "median": statistics.median(times),
        "cpu": statistics.median(cpu),
        "max": max(times),
        "signals": last.signals,
        "active": last.active,
        "open_alerts": last.open_alerts,
        "first_notifications": first.notifications,
        "errors": first.errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--domains", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument(
        "--dir", type=Path, default=None, help="Where the store goes (kept and reused)."
    )
    args = parser.parse_args()
    directory = args.dir or Path(tempfile.mkdtemp(prefix="dw-alerts-"))
    directory.mkdir(parents=True, exist_ok=True)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, load {os.getloadavg()[0]:.2f}"
    )
    print(
        "| rule set | rules | first cycle | steady median | steady max | steady CPU | signals "
        "| active | open alerts |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    path = directory / f"alerts-{args.domains}.db"
    url = f"sqlite:///{path}"
    if not path.exists():
        seed(url, args.domains, random.Random(6))
    for rule_set in ("default", "rates"):
        forget_alerts(url)
        r = measure(url, rule_set, args.runs)
        if r["errors"]:
            print(f"errors: {r['errors']}", file=sys.stderr)
        print(
            f"| {rule_set} | {r['rules']} | {r['first'] * 1000:.0f} ms | "
            f"{r['median'] * 1000:.0f} ms | {r['max'] * 1000:.0f} ms | {r['cpu'] * 1000:.0f} ms | "
            f"{r['signals']:,} | "
            f"{r['active']} | {r['open_alerts']} |"
        )
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
