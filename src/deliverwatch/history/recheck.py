"""Refreshing one section of a stored report (pure): the blocklist re-check between audits
replaces the blocklist section and its findings, and the score, grade and status follow."""

from __future__ import annotations

import copy
from typing import Any

from deliverwatch.auth.findings import CATALOGUE, Finding, Severity
from deliverwatch.auth.report import grade_for, score_findings, status_for

#: The start of a ``dns.*`` finding's message for a failed blocklist lookup (blocklists.py).
_BLOCKLIST_LOOKUP = "blocklist lookup of "
_RANK = {s.value: s.rank for s in Severity}


def is_blocklist_finding(item: dict[str, Any]) -> bool:
    code, message = str(item.get("code", "")), str(item.get("message", ""))
    return code.startswith("blocklist.") or (
        code.startswith("dns.") and message.startswith(_BLOCKLIST_LOOKUP)
    )


def with_blocklists(
    report: dict[str, Any], section: dict[str, Any], findings: list[dict[str, Any]]
) -> dict[str, Any]:
    """``report`` with its blocklist section and findings replaced, score/grade/status redone
    and ``rechecked`` naming the refreshed section."""
    out = copy.deepcopy(report)
    kept = [
        f for f in out.get("findings") or [] if isinstance(f, dict) and not is_blocklist_finding(f)
    ]
    merged = [*kept, *copy.deepcopy(findings)]
    typed = [
        Finding(str(f["code"]), Severity(f["severity"]), str(f.get("message", "")), "")
        for f in merged
        if f.get("code") in CATALOGUE and f.get("severity") in ("error", "warning", "info")
    ]
    out["findings"] = sorted(
        merged,
        key=lambda f: (-_RANK.get(str(f.get("severity")), 0), str(f.get("code"))),
    )
    out["blocklists"] = copy.deepcopy(section)
    sections = {k: v for k, v in out.items() if isinstance(v, dict) and "status" in v}
    out["score"] = score_findings(typed)
    out["grade"] = grade_for(out["score"])
    out["status"] = status_for(typed, sections)
    out["rechecked"] = ["blocklists"]
    return out
