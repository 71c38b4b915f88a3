"""``stats`` latency against the number of stored events.

Target (from the issue): ``stats`` for one domain over 30 days with 10 million stored events
under 50 ms, and no more than 2x its time at 100,000 events.

Each store is built through the real write path: events in message lifecycles (sent, then
delivered or bounced or deferred, opens, clicks, complaints, unsubscribes) over the last
``--days`` days, for ``--domains`` sending domains, five mailbox providers and two ESPs, stored
with ``insert_events`` in transactions of ``--commit-every`` events on SQLite as the service
opens it (WAL, ``synchronous=FULL``). Nothing is generated into the rollup tables directly.
Stores are kept in ``--dir`` and reused when their size and seed match (building 10 million
events takes minutes).

Then ``stats(conn, domain=D, since=now-30d, until=now)`` is timed over ``--runs`` calls per
store on one connection each, the stores taking turns call by call so that they share the
machine's conditions and the window (the first call, on a fresh connection, apart), the
``--by mailbox-provider`` and ``--by day`` variants, a check that the rollup totals equal a
count of the raw events in the window, and the CLI (``deliverwatch stats --domain D --window
30d --format json``) timed as whole processes next to ``deliverwatch version`` (process
start-up and imports alone).

    .venv/bin/python bench/stats_query.py --events 100000 10000000 --dir /tmp/dw-stats
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from deliverwatch.events.model import BounceClass, Event, EventType
from deliverwatch.store import begin_write, create_engine, insert_events, open_store, stats

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
MAILBOXES = {
    "gmail": "gmail.com",
    "yahoo": "yahoo.com",
    "microsoft": "outlook.com",
    "apple": "icloud.com",
    "other": "example.org",
}
PROVIDERS = ["sendgrid", "ses"]
BATCH = 10_000


def domains(count: int) -> list[str]:
    return [f"d{n}.bench.example" for n in range(count)]


def generate(count: int, days: int, domain_count: int, now: datetime, seed: int) -> Iterator[Event]:
    """About ``count`` events of message lifecycles spread evenly over the ``days`` before
    ``now`` (oldest first, as a live store fills), ids unique."""
    rng = random.Random(seed)
    names = domains(domain_count)
    mailboxes = list(MAILBOXES.items())
    start = now - timedelta(days=days)
    span = days * 86400
    # Lifecycles average ~1.9 events; spacing their starts evenly keeps time order roughly.
    messages = int(count / 1.9) + 1
    step = span / messages
    written = 0
    message = 0
    while written < count:
        message += 1
        provider = PROVIDERS[message % 2]
        mailbox_provider, mailbox_domain = mailboxes[rng.randrange(len(mailboxes))]
        domain = names[message % len(names)]
        recipient = f"u{rng.randrange(1_000_000)}@{mailbox_domain}"
        base = start + timedelta(seconds=min(span - 8000, message * step))
        lifecycle: list[tuple[EventType, int, BounceClass | None]] = [(EventType.SENT, 0, None)]
        roll = rng.random()
        if roll < 0.04:
            lifecycle.append((EventType.DEFERRED, 30, BounceClass.SOFT))
        if roll < 0.03:
            bounce = rng.choice([BounceClass.HARD, BounceClass.SOFT, BounceClass.BLOCK])
            lifecycle.append((EventType.BOUNCED, 60, bounce))
        else:
            lifecycle.append((EventType.DELIVERED, 5, None))
            if rng.random() < 0.25:
                lifecycle.append((EventType.OPENED, 600, None))
                if rng.random() < 0.3:
                    lifecycle.append((EventType.OPENED, 4200, None))
                if rng.random() < 0.2:
                    lifecycle.append((EventType.CLICKED, 700, None))
            if rng.random() < 0.002:
                lifecycle.append((EventType.COMPLAINED, 7200, None))
            if rng.random() < 0.004:
                lifecycle.append((EventType.UNSUBSCRIBED, 7300, None))
        for kind, offset, bounce_class in lifecycle:
            written += 1
            yield Event(
                event_id=f"e{written}",
                provider=provider,
                type=kind,
                timestamp=base + timedelta(seconds=offset),
                recipient=recipient,
                recipient_domain=mailbox_domain,
                mailbox_provider=mailbox_provider,
                sending_domain=domain,
                message_id=f"<{message}@{domain}>",
                bounce_class=bounce_class,
                smtp_status="5.1.1" if bounce_class is BounceClass.HARD else None,
                tags=("bench",),
                campaign="spring",
                ip="198.51.100.7",
                raw={"n": written},
            )
            if written >= count:
                return


def build(path: Path, count: int, args: argparse.Namespace) -> dict[str, Any]:
    """The store at ``path`` holding ``count`` events, built unless a matching one is there."""
    meta_path = path.with_suffix(".json")
    if path.exists() and meta_path.exists():
        meta: dict[str, Any] = json.loads(meta_path.read_text())
        if meta["events"] == count and meta["seed"] == args.seed and meta["days"] == args.days:
            meta["reused"] = True
            return meta
    for stale in (path, meta_path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        stale.unlink(missing_ok=True)
    now = datetime.now(UTC).replace(microsecond=0)
    engine = open_store(f"sqlite:///{path}")
    started = time.perf_counter()
    cpu = time.process_time()
    stored = 0
    events = generate(count, args.days, args.domains, now, args.seed)
    try:
        while True:
            with begin_write(engine) as conn:
                taken = 0
                while taken < args.commit_every:
                    batch = [event for _, event in zip(range(BATCH), events, strict=False)]
                    if not batch:
                        break
                    stored += insert_events(conn, batch).inserted
                    taken += len(batch)
            print(f"  {path.name}: {stored:,} events", file=sys.stderr, end="\r")
            if taken < args.commit_every:
                break
    finally:
        engine.dispose()
    seconds = time.perf_counter() - started
    print(file=sys.stderr)
    meta = {
        "events": count,
        "stored": stored,
        "seed": args.seed,
        "days": args.days,
        "domains": args.domains,
        "built_at": now.isoformat(),
        "build_seconds": round(seconds, 1),
        "build_cpu_seconds": round(time.process_time() - cpu, 1),
        "build_events_per_s": round(stored / seconds),
        "file_mb": round(path.stat().st_size / 1e6, 1),
        "reused": False,
    }
    meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    return meta


def summary(timings: list[float]) -> dict[str, float]:
    ordered = sorted(timings)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))] * 1000, 2),
        "min_ms": round(ordered[0] * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
    }


def shape(path: Path) -> dict[str, int]:
    """Row counts of the tables ``stats`` reads (and of events), for the record."""
    conn = sqlite3.connect(path)
    try:
        tables = ["events", "rollup_series", "rollup_minute", "rollup_hour", "rollup_day"]
        return {t: conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] for t in tables}
    finally:
        conn.close()


def measure(paths: list[Path], domain: str, runs: int) -> list[dict[str, Any]]:
    """Time ``stats`` on every store, interleaved (call i on each store before call i+1 on
    any), so they share the machine's conditions; all over the same window."""
    engines = [create_engine(f"sqlite:///{path}") for path in paths]
    conns = [engine.connect() for engine in engines]
    outs: list[dict[str, Any]] = [{} for _ in paths]
    now = datetime.now(UTC)
    since = now - timedelta(days=30)
    variants: list[tuple[str, str | None, int]] = [("stats", None, runs)]
    variants += [(f"stats_by_{by}", by, max(5, runs // 5)) for by in ("mailbox-provider", "day")]
    try:
        rows = []
        for conn, out in zip(conns, outs, strict=True):
            started = time.perf_counter()
            rows.append(stats(conn, domain=domain, since=since, until=now)[0])
            out["first_call_ms"] = round((time.perf_counter() - started) * 1000, 2)
        for name, by, count in variants:
            timings: list[list[float]] = [[] for _ in paths]
            for _ in range(count):
                for conn, series in zip(conns, timings, strict=True):
                    started = time.perf_counter()
                    stats(conn, domain=domain, since=since, until=now, by=by)  # type: ignore[arg-type]
                    series.append(time.perf_counter() - started)
            for out, series in zip(outs, timings, strict=True):
                out[name] = summary(series)
        for conn, out, row in zip(conns, outs, rows, strict=True):
            out |= check(conn, domain, row)
    finally:
        for conn in conns:
            conn.close()
        for engine in engines:
            engine.dispose()
    return outs


def check(conn: sa.Connection, domain: str, row: Any) -> dict[str, Any]:
    """The rollup totals of ``row`` against a count of the raw events in its window."""
    raw = conn.execute(
        sa.text(
            "SELECT COUNT(*) FROM events WHERE sending_domain = :d"
            " AND occurred_at >= :since AND occurred_at < :until"
        ),
        {
            "d": domain,
            "since": row.since.isoformat(" ", "microseconds")[:26],
            "until": row.until.isoformat(" ", "microseconds")[:26],
        },
    ).scalar_one()
    kinds = ["sent_events", "delivered", "bounces", "deferred", "dropped", "complaints"]
    kinds += ["opens", "clicks", "unsubscribes"]
    counted = sum(getattr(row, kind) for kind in kinds)
    return {
        "window": [row.since.isoformat(), row.until.isoformat()],
        "events_in_window": raw,
        "rollup_events_in_window": counted,
        "rollups_match_events": raw == counted,
        "counts": row.to_dict()["counts"],
    }


def cli_timings(path: Path, domain: str, runs: int, tmp: Path) -> dict[str, Any]:
    config = tmp / f"{path.stem}.yaml"
    config.write_text(json.dumps({"database_url": f"sqlite:///{path}"}))
    deliverwatch = str(Path(sys.executable).with_name("deliverwatch"))
    stats_command = [deliverwatch, "stats", "--domain", domain, "--window", "30d"]
    stats_command += ["--format", "json", "--config", str(config)]
    out: dict[str, Any] = {}
    for name, command in (("version", [deliverwatch, "version"]), ("stats", stats_command)):
        timings = []
        for _ in range(runs):
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, check=True)
            timings.append(time.perf_counter() - started)
        out[name] = summary(timings)
        if name == "stats":
            out["stats_output_sent"] = json.loads(done.stdout)["counts"]["sent"]
    out["stats_minus_startup_p50_ms"] = round(out["stats"]["p50_ms"] - out["version"]["p50_ms"], 1)
    return out


def machine() -> dict[str, Any]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "sqlalchemy": sa.__version__,
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, nargs="+", default=[100_000, 10_000_000])
    parser.add_argument("--days", type=int, default=35)
    parser.add_argument("--domains", type=int, default=3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--commit-every", type=int, default=500_000)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--cli-runs", type=int, default=10)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/deliverwatch-stats-bench"))
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    domain = domains(args.domains)[0]
    report: dict[str, Any] = {"machine": machine(), "domain": domain, "stores": []}
    paths = []
    for count in args.events:
        path = args.dir / f"events-{count}.db"
        print(f"store of {count:,} events", file=sys.stderr)
        meta = build(path, count, args)
        report["stores"].append({"build": meta, "shape": shape(path)})
        paths.append(path)
    report["loadavg_before_measuring"] = [round(x, 2) for x in os.getloadavg()]
    for store, timings in zip(report["stores"], measure(paths, domain, args.runs), strict=True):
        store |= timings
    for store, path in zip(report["stores"], paths, strict=True):
        store["cli"] = cli_timings(path, domain, args.cli_runs, args.dir)
    report["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    if len(report["stores"]) > 1:
        small, big = report["stores"][0], report["stores"][-1]
        report["ratio_p50"] = round(big["stats"]["p50_ms"] / small["stats"]["p50_ms"], 2)
        report["ratio_min"] = round(big["stats"]["min_ms"] / small["stats"]["min_ms"], 2)
    out = args.out or RESULTS / f"stats_query-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'events':>12} {'p50 ms':>7} {'p95 ms':>7} {'first':>7} {'cli p50':>8} {'startup':>8}")
    for store in report["stores"]:
        print(
            f"{store['build']['events']:>12,} {store['stats']['p50_ms']:7.2f} "
            f"{store['stats']['p95_ms']:7.2f} {store['first_call_ms']:7.2f} "
            f"{store['cli']['stats']['p50_ms']:8.1f} {store['cli']['version']['p50_ms']:8.1f}"
            f"  rollups=events: {store['rollups_match_events']}"
        )
    if "ratio_p50" in report:
        print(f"largest/smallest: p50 {report['ratio_p50']}x, min {report['ratio_min']}x")
    print(f"results: {out}")


if __name__ == "__main__":
    main()
