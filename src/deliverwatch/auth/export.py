"""Machine formats of audit reports: JSON, JSON lines, CSV and SARIF 2.1.0.

Every function takes report dicts (``DomainReport.to_dict()``), so the formats cannot disagree
about content: they differ only in shape.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from typing import Any

from deliverwatch import __version__
from deliverwatch.auth.findings import CATALOGUE

CSV_COLUMNS = (
    "domain",
    "score",
    "grade",
    "status",
    "errors",
    "warnings",
    "spf_record",
    "spf_dns_lookups",
    "spf_void_lookups",
    "dmarc_policy",
    "dmarc_location",
    "dkim_selectors",
    "mx_hosts",
    "blocklisted",
    "codes",
)
SARIF_LEVEL = {"error": "error", "warning": "warning", "info": "note"}


def to_json(reports: Sequence[dict[str, Any]]) -> str:
    """One object for one domain, an array for several (in input order)."""
    payload: Any = reports[0] if len(reports) == 1 else list(reports)
    return json.dumps(payload, indent=2, ensure_ascii=False)


def to_jsonl_line(report: dict[str, Any]) -> str:
    return json.dumps(report, ensure_ascii=False, separators=(",", ":"))


def csv_header() -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(CSV_COLUMNS)
    return buffer.getvalue()


def to_csv_row(report: dict[str, Any]) -> str:
    """One line per domain: the figures a spreadsheet sorts by, and every finding code."""
    findings = report["findings"]
    row = {
        "domain": report["domain"],
        "score": report["score"],
        "grade": report["grade"],
        "status": report["status"],
        "errors": sum(1 for f in findings if f["severity"] == "error"),
        "warnings": sum(1 for f in findings if f["severity"] == "warning"),
        "spf_record": report["spf"].get("record") or "",
        "spf_dns_lookups": report["spf"].get("dns_lookups", ""),
        "spf_void_lookups": report["spf"].get("void_lookups", ""),
        "dmarc_policy": report["dmarc"].get("policy") or "",
        "dmarc_location": report["dmarc"].get("location") or "",
        "dkim_selectors": " ".join(
            s["selector"] for s in report["dkim"].get("selectors", []) if s.get("found")
        ),
        "mx_hosts": " ".join(h["host"] for h in report["mx"].get("hosts", [])),
        "blocklisted": " ".join(
            f"{e['subject']}@{e['zone']}"
            for e in report["blocklists"].get("entries", [])
            if e.get("listed")
        ),
        "codes": " ".join(sorted({f["code"] for f in findings})),
    }
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow([row[c] for c in CSV_COLUMNS])
    return buffer.getvalue()


def to_sarif(reports: Sequence[dict[str, Any]], artifact: str | None = None) -> str:
    """SARIF for code-scanning UIs: one result per finding, the domain as logical location.

    ``artifact`` (the domains file or config) gives results a physical location too, which
    GitHub code scanning requires to show them.
    """
    used = sorted({f["code"] for r in reports for f in r["findings"]})
    rules = [
        {
            "id": code,
            "name": code.replace(".", "_"),
            "shortDescription": {"text": CATALOGUE[code].title},
            "help": {"text": CATALOGUE[code].fix},
            "helpUri": f"docs/findings.md#{code.replace('.', '')}",
            "defaultConfiguration": {"level": SARIF_LEVEL[CATALOGUE[code].severity.value]},
        }
        for code in used
    ]
    index = {code: i for i, code in enumerate(used)}
    results = []
    for report in reports:
        for item in report["findings"]:
            location: dict[str, Any] = {
                "logicalLocations": [{"name": report["domain"], "kind": "domain"}]
            }
            if artifact:
                location["physicalLocation"] = {"artifactLocation": {"uri": artifact}}
            results.append(
                {
                    "ruleId": item["code"],
                    "ruleIndex": index[item["code"]],
                    "level": SARIF_LEVEL[item["severity"]],
                    "message": {
                        "text": f"{report['domain']}: {item['message']}. Fix: {item['fix']}"
                    },
                    "locations": [location],
                    "partialFingerprints": {
                        "domainFinding/v1": f"{report['domain']}:{item['code']}"
                    },
                }
            )
    sarif = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "deliverwatch",
                        "version": __version__,
                        "informationUri": "https://github.com/deliverwatch/deliverwatch",
                        "rules": rules,
                    }
                },
                "results": results,
            }
        ],
    }
    return json.dumps(sarif, indent=2, ensure_ascii=False)
