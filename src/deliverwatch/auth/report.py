"""A domain's audit report: sections, findings, score, grade and status.

The score starts at 100 and loses each catalogued code's penalty once per code (five MX hosts
without FCrDNS are one problem, not five); a finding reported below its catalogue severity
costs half. The grade is the score's band. The status answers "is anything wrong?":

* ``error``   some finding is an error (known bad, whatever else is unknown);
* ``unknown`` a lookup failed, so part of the answer is missing;
* ``warning`` only warnings;
* ``ok``      nothing worse than info.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from deliverwatch.auth.findings import CATALOGUE, Finding, Severity

Status = Literal["ok", "warning", "error", "unknown"]
GRADES: tuple[tuple[int, str], ...] = ((90, "A"), (80, "B"), (70, "C"), (60, "D"), (0, "F"))
SECTIONS = ("spf", "dmarc", "dkim", "bimi", "mta_sts", "tlsrpt", "mx", "blocklists")


def score_findings(findings: list[Finding]) -> int:
    penalties: dict[str, int] = {}
    for item in findings:
        spec = CATALOGUE[item.code]
        penalty = spec.penalty if item.severity.rank >= spec.severity.rank else spec.penalty // 2
        penalties[item.code] = max(penalties.get(item.code, 0), penalty)
    return max(0, 100 - sum(penalties.values()))


def grade_for(score: int) -> str:
    return next(letter for floor, letter in GRADES if score >= floor)


def status_for(findings: list[Finding], sections: dict[str, dict[str, Any]]) -> Status:
    if any(f.severity is Severity.ERROR for f in findings):
        return "error"
    if any(f.code.startswith("dns.") for f in findings) or any(
        s.get("status") == "unknown" for s in sections.values()
    ):
        return "unknown"
    if any(f.severity is Severity.WARNING for f in findings):
        return "warning"
    return "ok"


@dataclass
class DomainReport:
    domain: str
    findings: list[Finding]
    sections: dict[str, dict[str, Any]]
    requirements: dict[str, Any] = field(default_factory=dict)
    sending_ips: list[dict[str, Any]] = field(default_factory=list)
    duration_ms: float = 0.0

    @property
    def score(self) -> int:
        return score_findings(self.findings)

    @property
    def grade(self) -> str:
        return grade_for(self.score)

    @property
    def status(self) -> Status:
        return status_for(self.findings, self.sections)

    def worst_severity(self) -> Severity | None:
        worst = max(self.findings, key=lambda f: f.severity.rank, default=None)
        return worst.severity if worst else None

    def to_dict(self) -> dict[str, Any]:
        ordered = sorted(self.findings, key=lambda f: (-f.severity.rank, f.code))
        data: dict[str, Any] = {
            "domain": self.domain,
            "score": self.score,
            "grade": self.grade,
            "status": self.status,
            "findings": [f.to_dict() for f in ordered],
        }
        for name in SECTIONS:
            data[name] = self.sections.get(name, {"status": "not_checked"})
        data["sending_ips"] = self.sending_ips
        data["requirements"] = self.requirements
        data["duration_ms"] = round(self.duration_ms, 1)
        return data
