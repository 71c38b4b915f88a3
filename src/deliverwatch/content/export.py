"""Lint reports as text, JSON and SARIF 2.1.0 (the same shapes as ``check``'s exports).

Every function takes report dicts (``LintReport.to_dict()``), so the formats cannot disagree
about content. SARIF results carry the file and, when known, the line, so code-scanning UIs
annotate the template itself.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import PurePath
from typing import Any

from deliverwatch import __version__
from deliverwatch.auth.export import SARIF_LEVEL
from deliverwatch.content.catalogue import CATALOGUE


def to_json(reports: Sequence[dict[str, Any]]) -> str:
    """One object for one file, an array for several (in input order)."""
    payload: Any = reports[0] if len(reports) == 1 else list(reports)
    return json.dumps(payload, indent=2, ensure_ascii=False)


def to_text(report: dict[str, Any]) -> str:
    lines = [f"{report['file']}: score {report['score']} ({report['verdict']})"]
    for item in report["findings"]:
        where = item["where"]
        place = f"line {where['line']}" if where["line"] is not None else ""
        if where["element"]:
            place = f"{place} {where['element']}".strip()
        lines.append(
            f"  {item['severity']:<7} +{item['points']:<2} {item['code']}: {item['message']}"
            + (f"  [{place}]" if place else "")
        )
        lines.append(f"          fix: {item['fix']}")
    for name, result in report.get("external", {}).items():
        if "error" in result:
            lines.append(f"  {name}: {result['error']}")
            continue
        symbols = ", ".join(
            f"{s['name']}({s['score']:g})" if s["score"] is not None else s["name"]
            for s in result["symbols"]
        )
        threshold = f" / {result['threshold']:g}" if result["threshold"] is not None else ""
        lines.append(f"  {name}: score {result['score']:g}{threshold}: {symbols or 'no rules'}")
    return "\n".join(lines)


def _uri(path: str) -> str:
    return PurePath(path).as_posix()


def to_sarif(reports: Sequence[dict[str, Any]]) -> str:
    """One result per finding, located at the file and line it was found."""
    used = sorted({f["code"] for r in reports for f in r["findings"]})
    rules = [
        {
            "id": code,
            "name": code.replace(".", "_"),
            "shortDescription": {"text": CATALOGUE[code].title},
            "fullDescription": {"text": CATALOGUE[code].why},
            "help": {"text": CATALOGUE[code].fix},
            "helpUri": f"docs/lint.md#{code.replace('.', '')}",
            "defaultConfiguration": {"level": SARIF_LEVEL[CATALOGUE[code].severity.value]},
            "properties": {"points": CATALOGUE[code].points},
        }
        for code in used
    ]
    index = {code: i for i, code in enumerate(used)}
    results = []
    for report in reports:
        for item in report["findings"]:
            physical: dict[str, Any] = {"artifactLocation": {"uri": _uri(report["file"])}}
            if item["where"]["line"] is not None:
                physical["region"] = {"startLine": max(1, int(item["where"]["line"]))}
            location: dict[str, Any] = {"physicalLocation": physical}
            if item["where"]["element"]:
                location["logicalLocations"] = [
                    {"name": item["where"]["element"], "kind": "element"}
                ]
            results.append(
                {
                    "ruleId": item["code"],
                    "ruleIndex": index[item["code"]],
                    "level": SARIF_LEVEL[item["severity"]],
                    "message": {"text": f"{item['message']}. Fix: {item['fix']}"},
                    "locations": [location],
                    "partialFingerprints": {
                        "lintFinding/v1": f"{_uri(report['file'])}:{item['code']}:"
                        f"{item['where']['line']}"
                    },
                    "properties": {"points": item["points"]},
                }
            )
    sarif = {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "deliverwatch-lint",
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
