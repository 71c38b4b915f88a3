"""Time checkdmarc 6.x on a list of domains against one local nameserver; print JSON.

Runs inside ``bench/.venv-checkdmarc`` (checkdmarc is never a dependency of deliverwatch)::

    bench/.venv-checkdmarc/bin/python bench/run_checkdmarc.py --nameserver 127.0.0.1:5300 \
        --domains-file domains.txt [--limit 100] [--max-seconds 120] [--timeout 2.0]

It calls checkdmarc's Python API, ``checkdmarc.check_domains([domain], nameservers=[
dns.nameserver.Do53Nameserver(host, port)], timeout=...)``, one domain after another (which is
what ``check_domains`` does with a list; calling it per domain only lets the run stop at
``--max-seconds``). Its module-level DNS caches persist across the calls, as in one
``check_domains`` call.

No network fetches: checkdmarc 6 downloads the MTA-STS policy and BIMI logo/certificate with
``requests`` and has no switch to skip that, so ``requests.Session.request`` is replaced by one
that fails at once (as if the host were unreachable), matching ``deliverwatch check --no-http``.
MX STARTTLS probes are off by default (``check_mx_tls=False``). The loopback guard makes any
other attempt to leave 127.0.0.1 fail immediately and be counted (reported as ``blocked``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import loopback_guard


def disable_http_fetches() -> None:
    import requests

    def refuse(self: object, method: str, url: str, *args: object, **kwargs: object) -> None:
        raise requests.ConnectionError(f"benchmark: network fetches disabled ({method} {url})")

    requests.Session.request = refuse  # type: ignore[method-assign, assignment]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--nameserver", required=True, help="HOST:PORT")
    parser.add_argument("--domains-file", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=0, help="first N domains only (0: all)")
    parser.add_argument("--max-seconds", type=float, default=0, help="stop after this (0: never)")
    parser.add_argument("--timeout", type=float, default=2.0, help="checkdmarc's DNS timeout")
    parser.add_argument("--retries", type=int, default=None, help="checkdmarc's DNS retries")
    args = parser.parse_args()

    loopback_guard.install()
    disable_http_fetches()
    logging.disable(logging.WARNING)  # its "nameserver failed" warnings would flood stderr

    import checkdmarc
    import dns.nameserver

    host, _, port = args.nameserver.rpartition(":")
    nameservers = [dns.nameserver.Do53Nameserver(host, int(port))]
    domains = [d.strip() for d in args.domains_file.read_text().splitlines() if d.strip()]
    if args.limit:
        domains = domains[: args.limit]
    extra = {} if args.retries is None else {"retries": args.retries}

    summary = {"spf_valid": 0, "dmarc_valid": 0, "mx_hosts": 0, "errors": 0}
    per_domain: list[float] = []
    started = time.perf_counter()
    done = 0
    for domain in domains:
        if args.max_seconds and time.perf_counter() - started > args.max_seconds:
            break
        one = time.perf_counter()
        try:
            result = checkdmarc.check_domains(
                [domain], nameservers=nameservers, timeout=args.timeout, **extra
            )
        except Exception as exc:  # a crash would count as a (fast) domain: record it
            summary["errors"] += 1
            print(f"checkdmarc failed on {domain}: {exc!r}", file=sys.stderr)
        else:
            assert isinstance(result, dict)
            summary["spf_valid"] += bool(result["spf"].get("valid"))
            summary["dmarc_valid"] += bool(result["dmarc"].get("valid"))
            summary["mx_hosts"] += len(result["mx"].get("hosts", []))
        per_domain.append(time.perf_counter() - one)
        done += 1
    elapsed = time.perf_counter() - started
    print(
        json.dumps(
            {
                "tool": f"checkdmarc {checkdmarc.__version__}",
                "domains": done,
                "elapsed": elapsed,
                "per_domain_max": max(per_domain, default=0.0),
                "blocked": len(loopback_guard.BLOCKED),
                **summary,
            }
        )
    )


if __name__ == "__main__":
    main()
