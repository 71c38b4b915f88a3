"""Dashboard and API read speed with 100 domains and 10 million stored events.

    .venv/bin/python bench/dashboard_speed.py [--domains 100] [--events 10000000] [--runs 60]

1. Builds a store (SQLite in a temporary folder) holding the rollups of ``--events`` events
   over 90 days for ``--domains`` domains, as ingestion would leave them after compaction
   with the default retention (minute rollups for the last 7 days, hour rollups for 90, day
   rollups for all), through the real ``add_to_rollups``; a DMARC day rollup (20 sources,
   3 reporters, 90 days per domain); three audits per domain (``history.record_audit``);
   one alert evaluation cycle. Raw events are not stored: no read path touches them.
2. Times the read model in process (``views.overview``, ``views.domain_detail`` per window).
3. Serves the real app (uvicorn, in a child process) and times, through httpx on one
   keep-alive connection, the dashboard pages (signed-in session) and the JSON API (bearer
   token): p50/p95/max per route; reports the child's RSS (current and peak).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src")]

from deliverwatch import config as _config  # noqa: E402, F401  (before alerts: import order)
from deliverwatch.clock import FakeClock  # noqa: E402

NOW = datetime(2026, 11, 20, 14, 37, tzinfo=UTC)
DAYS = 90
MAILBOXES = ("gmail", "yahoo", "microsoft", "apple", "other")
#: event type, bounce class → share of sends (a plausible mix; sums to ~1.3 events a send)
MIX = (
    ("delivered", "", 0.965),
    ("bounced", "hard", 0.012),
    ("bounced", "soft", 0.008),
    ("bounced", "block", 0.005),
    ("deferred", "soft", 0.03),
    ("complained", "", 0.0006),
    ("opened", "", 0.22),
    ("unique_open", "", 0.17),
    ("clicked", "", 0.03),
    ("unique_click", "", 0.025),
    ("unsubscribed", "", 0.002),
)
EVENTS_PER_SEND = 1 + sum(share for _, _, share in MIX)


def build(folder: Path, domains: list[str], events: int) -> str:
    from deliverwatch.store import begin_write, open_store
    from deliverwatch.store.rollups import HOUR, Horizons, RollupDeltas, add_to_rollups, compact

    url = f"sqlite:///{folder / 'bench.db'}"
    engine = open_store(url)
    rng = random.Random(7)
    sends_per_hour = events / EVENTS_PER_SEND / len(domains) / (DAYS * 24)
    start = int((NOW - timedelta(days=DAYS)).timestamp()) // HOUR * HOUR
    end = int(NOW.timestamp())
    minute_from = end - 7 * 86400
    horizons = Horizons(minute_rollups_from=minute_from - minute_from % HOUR)
    total = 0
    for number, domain in enumerate(domains):
        deltas = RollupDeltas()
        badness = 1 + (3 if number % 17 == 0 else 0)  # a few domains with problems
        for hour in range(start, end, HOUR):
            for mailbox in MAILBOXES:
                sends = _poisson(rng, sends_per_hour / len(MAILBOXES))
                if not sends:
                    continue
                items = [("sent", "", sends)]
                for kind, bounce, share in MIX:
                    boost = badness if kind in ("complained", "bounced") else 1
                    n = _poisson(rng, sends * share * boost)
                    if n:
                        items.append((kind, bounce, n))
                for kind, bounce, n in items:
                    total += n
                    series = (domain, mailbox, "sendgrid", kind, bounce)
                    if hour >= minute_from:  # recent: spread over the hour's minutes
                        for _ in range(n):
                            deltas.add(series, hour + rng.randrange(3600))
                    else:
                        deltas.add(series, hour, n)
        with begin_write(engine) as conn:
            add_to_rollups(conn, deltas, horizons=horizons)
        if number % 10 == 9:
            print(f"  rollups: {number + 1} domains, {total:,} events", flush=True)
    with begin_write(engine) as conn:
        compact(conn, now=NOW)
    _dmarc(engine, domains, rng)
    _audits(engine, domains)
    _alerts(engine, domains)
    engine.dispose()
    print(
        f"  store: {total:,} events in rollups; {os.path.getsize(folder / 'bench.db') / 1e6:.0f} MB"
    )
    return url


def _poisson(rng: random.Random, mean: float) -> int:
    """A count with mean ``mean`` (normal approximation above 30)."""
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, mean**0.5)))
    limit, k, product = 2.718281828459045**-mean, 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def _dmarc(engine: Any, domains: list[str], rng: random.Random) -> None:
    import sqlalchemy as sa

    from deliverwatch.store import begin_write
    from deliverwatch.store.schema import dmarc_reports, dmarc_rollup_day

    first_day = int((NOW - timedelta(days=DAYS)).timestamp()) // 86400 * 86400
    with begin_write(engine) as conn:
        for domain in domains:
            rows = []
            for day in range(first_day, int(NOW.timestamp()), 86400):
                for source in range(20):
                    for reporter in ("google.com", "yahoo.com", "outlook.com"):
                        passes = source < 16
                        rows.append(
                            {
                                "domain": domain,
                                "day": day,
                                "source_ip": f"192.0.2.{source}",
                                "reporter": reporter,
                                "dmarc_pass": passes,
                                "dkim_aligned": passes,
                                "spf_aligned": passes,
                                "disposition": "none",
                                "count": rng.randrange(1, 200),
                            }
                        )
            conn.execute(sa.insert(dmarc_rollup_day), rows)
            conn.execute(
                sa.insert(dmarc_reports),
                [
                    {
                        "org_name": "google.com",
                        "report_id": f"{domain}-{n}",
                        "domain": domain,
                        "begin_at": NOW - timedelta(days=n + 1),
                        "end_at": NOW - timedelta(days=n),
                        "record_count": 20,
                        "message_count": 2000,
                        "source": "bench",
                    }
                    for n in range(DAYS)
                ],
            )


def _audits(engine: Any, domains: list[str]) -> None:
    from deliverwatch.auth.findings import CATALOGUE
    from deliverwatch.history.store import record_audit
    from deliverwatch.store import begin_write

    spec = CATALOGUE["dmarc.policy_none"]
    finding = {"code": spec.code, "severity": "warning", "message": spec.title, "fix": spec.fix}
    sections = ("spf", "dmarc", "dkim", "bimi", "mta_sts", "tlsrpt", "mx", "blocklists")
    with begin_write(engine) as conn:
        for n, domain in enumerate(domains):
            for back in (3, 2, 1):
                findings = [finding] if (n + back) % 3 == 0 else []
                report = {
                    "domain": domain,
                    "score": 85 if findings else 100,
                    "grade": "B" if findings else "A",
                    "status": "warning" if findings else "ok",
                    "findings": findings,
                    **{name: {"status": "ok", "record": f"v=x {back}"} for name in sections},
                }
                record_audit(conn, report, NOW - timedelta(hours=back))


def _alerts(engine: Any, domains: list[str]) -> None:
    from deliverwatch.alerts.engine import evaluate
    from deliverwatch.config import Config

    config = Config.model_validate({"domains": [{"name": d} for d in domains]})
    started = time.perf_counter()
    clock = FakeClock(NOW - timedelta(minutes=15))
    evaluate(engine, config, clock)
    clock.advance(timedelta(minutes=15))
    result = evaluate(engine, config, clock)
    print(f"  alerts: {result.open_alerts} open ({time.perf_counter() - started:.1f} s)")


def timed(function: Callable[[], Any], runs: int) -> list[float]:
    function()  # warm
    laps = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        laps.append((time.perf_counter() - started) * 1000)
    return laps


def summary(laps: list[float]) -> str:
    laps = sorted(laps)
    p95 = laps[min(len(laps) - 1, int(len(laps) * 0.95))]
    return f"p50 {statistics.median(laps):6.1f} ms   p95 {p95:6.1f} ms   max {laps[-1]:6.1f} ms"


def in_process(url: str, domains: list[str], runs: int) -> None:
    from deliverwatch.config import Config
    from deliverwatch.service import views
    from deliverwatch.store import create_engine

    config = Config.model_validate({"domains": [{"name": d} for d in domains]})
    engine = create_engine(url)
    clock = FakeClock(NOW)
    rng = random.Random(1)
    with engine.connect() as conn:
        laps = timed(lambda: views.overview(conn, config, clock), runs)
        print(f"  views.overview            {summary(laps)}")
        for window in views.WINDOWS:
            laps = timed(
                lambda w=window: views.domain_detail(conn, config, rng.choice(domains), w, clock),
                runs,
            )
            print(f"  views.domain_detail {window:>4}  {summary(laps)}")
    engine.dispose()


SERVE = """
import sys, uvicorn
sys.path[:0] = [{src!r}]
from deliverwatch.clock import FakeClock
from deliverwatch.config import Config
from deliverwatch.service.app import create_app
from datetime import datetime
config = Config.model_validate_json({config!r})
app = create_app(config, clock=FakeClock(datetime.fromisoformat({now!r})))
uvicorn.run(app, host="127.0.0.1", port={port}, log_level="warning", access_log=False)
"""


def served(url: str, domains: list[str], runs: int) -> None:
    import httpx

    from deliverwatch.store import begin_write, create_engine
    from deliverwatch.store.apitokens import create_token

    engine = create_engine(url)
    with begin_write(engine) as conn:
        token, _ = create_token(conn, f"bench-{time.time_ns()}", read_only=True, now=NOW)
    engine.dispose()
    config = {"database_url": url, "domains": [{"name": d} for d in domains]}
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = SERVE.format(
        src=str(ROOT / "src"), config=json.dumps(config), now=NOW.isoformat(), port=port
    )
    child = subprocess.Popen([sys.executable, "-c", code])
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            time.sleep(0.1)
        rng = random.Random(2)
        with httpx.Client(base_url=base, timeout=30) as client:
            form = client.get("/login").text
            csrf = re.search(r'name="csrf" value="([^"]+)"', form)
            assert csrf is not None
            answer = client.post("/login", data={"token": token, "csrf": csrf.group(1)})
            assert answer.status_code in (200, 303), answer.status_code

            def get(path: str, **headers: str) -> Callable[[], None]:
                def fetch() -> None:
                    target = path.replace("{d}", rng.choice(domains))
                    response = client.get(target, headers=headers)
                    assert response.status_code == 200, (target, response.status_code)

                return fetch

            bearer = {"authorization": f"Bearer {token}"}
            routes = [
                ("page /", get("/")),
                ("page /domains/{d}?window=7d", get("/domains/{d}?window=7d")),
                ("page /domains/{d}?window=24h", get("/domains/{d}?window=24h")),
                ("page /domains/{d}?window=90d", get("/domains/{d}?window=90d")),
                ("page /alerts", get("/alerts")),
                ("api /api/v1/domains", get("/api/v1/domains", **bearer)),
                ("api /api/v1/domains/{d}", get("/api/v1/domains/{d}", **bearer)),
                (
                    "api /api/v1/domains/{d}?window=30d",
                    get("/api/v1/domains/{d}?window=30d", **bearer),
                ),
            ]
            for name, fetch in routes:
                print(f"  {name:<36} {summary(timed(fetch, runs))}")
        status = Path(f"/proc/{child.pid}/status").read_text()
        rss = {k: v.strip() for k, v in re.findall(r"^(VmRSS|VmHWM):\s+(.+)$", status, re.M)}
        print(f"  service RSS {rss.get('VmRSS')} (peak {rss.get('VmHWM')})")
    finally:
        child.terminate()
        child.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--domains", type=int, default=100)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=60)
    parser.add_argument("--keep", type=Path, help="build (or reuse) the store in this folder")
    args = parser.parse_args()
    domains = [f"brand{n:03d}.example" for n in range(args.domains)]
    with tempfile.TemporaryDirectory() as temporary:
        folder = args.keep or Path(temporary)
        folder.mkdir(parents=True, exist_ok=True)
        if (folder / "bench.db").exists():
            url = f"sqlite:///{folder / 'bench.db'}"
        else:
            started = time.perf_counter()
            url = build(folder, domains, args.events)
            print(f"  built in {time.perf_counter() - started:.0f} s")
        print("in process:")
        in_process(url, domains, args.runs)
        print("served (uvicorn, httpx, one connection):")
        served(url, domains, args.runs)


if __name__ == "__main__":
    main()
