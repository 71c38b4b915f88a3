"""Audit history and scores: the cost of storing audits and reading them back.

Builds a SQLite store (as the service opens it: WAL, ``synchronous=FULL``) holding
``--audits`` hourly audits of each of ``--domains`` domains through the real write path of
the audit job (``history.jobs.store_audit``: ``gather_inputs`` on a read connection, then
``record_audit`` + ``record_score`` in one write transaction per domain), every tenth audit
changing the DMARC policy, then times:

* ``diff_audits`` on a pair of reports that differ (pure);
* one audit stored as the job stores it (ms per domain);
* ``latest_audits`` and ``latest_scores`` over every domain (what the overview reads);
* ``audit_history(domain, limit=50)`` (what the domain page and the alert engine read).

    .venv/bin/python bench/history_store.py --domains 1000 --audits 24 --dir /tmp/dw-history
"""

from __future__ import annotations

import argparse
import copy
import os
import platform
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from deliverwatch.clock import FakeClock
from deliverwatch.history import audit_history, diff_audits, latest_audits, latest_scores
from deliverwatch.history.jobs import store_audit
from deliverwatch.store import open_store

T0 = datetime(2026, 11, 1, tzinfo=UTC)
KEY = "v=DKIM1; k=rsa; p=" + "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA" * 9


def report(domain: str, policy: str) -> dict[str, Any]:
    """A report of the size and shape ``check --format json`` gives for a configured domain."""
    return {
        "domain": domain,
        "score": 100 if policy == "reject" else 80,
        "grade": "A" if policy == "reject" else "B",
        "status": "ok" if policy == "reject" else "warning",
        "findings": []
        if policy == "reject"
        else [
            {
                "code": "dmarc.policy_none",
                "severity": "warning",
                "message": "p=none",
                "fix": "Move to p=quarantine once reports are clean.",
            }
        ],
        "spf": {
            "record": f"v=spf1 include:_spf.{domain} -all",
            "dns_lookups": 4,
            "void_lookups": 0,
            "tree": {"domain": domain, "children": []},
            "status": "ok",
        },
        "dmarc": {
            "record": f"v=DMARC1; p={policy}; rua=mailto:d@{domain}",
            "policy": policy,
            "subdomain_policy": policy,
            "pct": 100,
            "rua": [f"mailto:d@{domain}"],
            "adkim": "r",
            "aspf": "r",
            "status": "ok",
        },
        "dkim": {
            "selectors": [
                {
                    "selector": s,
                    "found": True,
                    "key_type": "rsa",
                    "key_bits": 2048,
                    "record": KEY,
                    "usable": True,
                }
                for s in ("s1", "s2")
            ],
            "checked": 37,
            "status": "ok",
        },
        "bimi": {"published": False, "record": None, "status": "ok"},
        "mta_sts": {
            "published": True,
            "record": "v=STSv1; id=1",
            "fetched": True,
            "policy": {"mode": "enforce", "mx": [f"mx.{domain}"]},
            "status": "ok",
        },
        "tlsrpt": {
            "record": f"v=TLSRPTv1; rua=mailto:t@{domain}",
            "rua": [f"mailto:t@{domain}"],
            "status": "ok",
        },
        "mx": {
            "hosts": [
                {"host": f"mx{i}.{domain}", "preference": 10 * i, "addresses": [f"198.18.0.{i}"]}
                for i in (1, 2)
            ],
            "null_mx": False,
            "status": "ok",
        },
        "blocklists": {
            "entries": [
                {"zone": z, "kind": "domain", "subject": domain, "listed": False, "codes": []}
                for z in ("dbl.example", "multi.example")
            ],
            "status": "ok",
        },
        "sending_ips": [],
        "requirements": {"google": {"items": [{"id": "dmarc", "met": True, "note": "ok"}]}},
        "duration_ms": 40.0,
    }


def timed(function: Callable[[], Any], runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        function()
        out.append((time.perf_counter() - start) * 1000)
    return out


def summary(name: str, values: list[float]) -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
    return f"| {name} | {statistics.median(values):.3f} | {p95:.3f} | {len(values)} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--domains", type=int, default=1000)
    parser.add_argument("--audits", type=int, default=24)
    parser.add_argument("--dir", type=Path, default=Path("/tmp/dw-history"))
    args = parser.parse_args()
    args.dir.mkdir(parents=True, exist_ok=True)
    path = args.dir / f"history-{args.domains}x{args.audits}.db"
    if path.exists():
        path.unlink()
    engine = open_store(f"sqlite:///{path}")
    names = [f"d{i:05d}.example" for i in range(args.domains)]
    clock = FakeClock(T0)

    def store_one(domain: str, policy: str) -> None:
        store_audit(engine, report(domain, policy), clock)

    build: list[float] = []
    for n in range(args.audits):
        policy = "none" if n % 10 == 9 else "reject"
        for domain in names:
            start = time.perf_counter()
            store_one(domain, policy)
            build.append((time.perf_counter() - start) * 1000)
        clock.advance(timedelta(hours=1))

    old, new = report("a.example", "reject"), report("a.example", "none")
    new = copy.deepcopy(new)
    new["dkim"]["selectors"][0]["key_bits"] = 1024
    lines = [
        f"{args.domains} domains × {args.audits} audits, "
        f"SQLite {path.stat().st_size / 1e6:.0f} MB; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"load {os.getloadavg()[0]:.1f}",
        "",
        "| operation | median ms | p95 ms | runs |",
        "| --- | --- | --- | --- |",
        summary("diff_audits (pure, 5 changes)", timed(lambda: diff_audits(old, new), 2000)),
        summary("store one audit + score (job path, one transaction)", build),
    ]
    with engine.connect() as conn:
        lines.append(summary("latest_audits, every domain", timed(lambda: latest_audits(conn), 5)))
        lines.append(summary("latest_scores, every domain", timed(lambda: latest_scores(conn), 5)))
        lines.append(
            summary(
                "audit_history(domain, limit=50)",
                timed(lambda: audit_history(conn, names[len(names) // 2], limit=50), 50),
            )
        )
    engine.dispose()
    print("\n".join(lines))


if __name__ == "__main__":
    main()
