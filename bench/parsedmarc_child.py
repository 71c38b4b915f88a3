"""Run parsedmarc on report files and print JSON; used by ``dmarc_agreement.py`` and
``dmarc_parse.py``, which start it with parsedmarc's own interpreter (``--parsedmarc``)::

    /tmp/pdm/bin/python bench/parsedmarc_child.py records FILE...
    /tmp/pdm/bin/python bench/parsedmarc_child.py time [--warmup REPORT] FILE...

parsedmarc is never a dependency of deliverwatch: it lives in a venv of its own. It runs in
offline mode (``offline=True``: no DNS, no GeoIP lookups online; ``always_use_local_files``:
its bundled reverse-DNS map instead of a download), and the loopback guard makes any
network attempt that remains fail at once and be counted (``blocked`` in the output).

``records`` prints, per file, the report type, org name, report id and each aggregate
record's source IP, count, disposition and policy-evaluated DKIM/SPF results (and, for
information, its header and envelope From and DKIM/SPF auth results), twice: with
parsedmarc's default settings (reports over 24 hours split into per-day records) and with
that split off (``normalize_timespan_threshold_hours`` huge), which keeps the report's
records as written. ``time`` prints the time of one pass over all the files, parsed with
the default settings, measured inside this process after parsing ``--warmup`` (interpreter
start-up, imports and parsedmarc's first-use loading not included); the caller takes the
best of several processes.

Standard library and parsedmarc only: it runs under parsedmarc's venv.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import loopback_guard

NO_SPLIT = 1e12  # hours: no report is that long, so parsedmarc keeps records whole


def parse(path: str, split: bool) -> dict[str, Any]:
    import parsedmarc

    kwargs: dict[str, Any] = {"offline": True, "always_use_local_files": True}
    if not split:
        kwargs["normalize_timespan_threshold_hours"] = NO_SPLIT
    return parsedmarc.parse_report_file(path, **kwargs)  # type: ignore[no-any-return]


def summary(path: str, split: bool) -> dict[str, Any]:
    try:
        parsed = parse(path, split)
    except Exception as error:  # parsedmarc raises its own classes and stray ones
        return {"ok": False, "error": f"{type(error).__name__}: {error}"}
    out: dict[str, Any] = {"ok": True, "report_type": parsed.get("report_type")}
    if parsed.get("report_type") != "aggregate":
        return out
    report = parsed["report"]
    metadata = report["report_metadata"]
    out["org_name"] = metadata.get("org_name")
    out["report_id"] = metadata.get("report_id")
    out["records"] = [
        [
            record["source"]["ip_address"],
            record["count"],
            record["policy_evaluated"]["disposition"],
            record["policy_evaluated"]["dkim"],
            record["policy_evaluated"]["spf"],
        ]
        for record in report["records"]
    ]
    # Compared for information only (not part of the agreement figures).
    out["other"] = [
        {
            "header_from": record["identifiers"].get("header_from"),
            "envelope_from": record["identifiers"].get("envelope_from"),
            "dkim_results": [
                [d.get("domain"), d.get("selector"), d.get("result")]
                for d in record["auth_results"].get("dkim", [])
            ],
            "spf_results": [
                [d.get("domain"), d.get("scope"), d.get("result")]
                for d in record["auth_results"].get("spf", [])
            ],
        }
        for record in report["records"]
    ]
    return out


def records(files: list[str]) -> None:
    result = {
        name: {"default": summary(name, True), "no_split": summary(name, False)} for name in files
    }
    print(json.dumps({"files": result, "blocked": len(loopback_guard.BLOCKED)}))


def timing(files: list[str], warmup: str | None) -> None:
    """One timed pass over ``files``, after parsing ``warmup`` (a report with other IPs):
    parsedmarc loads its IP database, reverse-DNS map and suffix list on first use, and
    caches what it found per IP, so a second pass over the same files would be flattered."""
    import parsedmarc

    if warmup:
        parse(warmup, True)
    count = messages = failed = 0
    started = time.perf_counter()
    for name in files:
        try:
            parsed = parse(name, True)
        except Exception:
            failed += 1
            continue
        if parsed.get("report_type") == "aggregate":
            found = parsed["report"]["records"]
            count += len(found)
            messages += sum(record["count"] for record in found)
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "seconds": seconds,
                "records": count,
                "messages": messages,
                "failed": failed,
                "version": getattr(parsedmarc, "__version__", "?"),
                "python": sys.version.split()[0],
                "blocked": len(loopback_guard.BLOCKED),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("mode", choices=("records", "time"))
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--warmup", help="a report parsed first, not timed (time mode)")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)  # parsedmarc logs every parse failure at length
    loopback_guard.install()
    files = [str(path) for path in args.files]
    if args.mode == "records":
        records(files)
    else:
        timing(files, args.warmup)


if __name__ == "__main__":
    main()
