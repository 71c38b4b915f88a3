"""Authentication regressions from the audit history (pure): a problem that was not there.

Input: a domain's audit reports (``check --format json``), newest first. A finding code at
warning or error level in the latest audit is a regression when an earlier audit of the
history lacked it (a record removed or broken, SPF over 10 lookups, a DKIM key removed or
shortened, a new blocklist listing, MX/PTR broken); a code present in every audit is a
standing problem (the score's business), not news. The DMARC policy going down (reject →
quarantine → none) and a record's text changing are regressions too.

DNS failures: a section whose status is ``unknown`` (a lookup timed out or failed) is judged
by its last known audit instead, so one flaky lookup neither raises nor clears anything. Only
when it stays unknown for ``persist_audits`` audits in a row does it raise its own alert.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from deliverwatch.alerts.advice import SECTION_ACTIONS, SECTION_CAUSES, section_of
from deliverwatch.alerts.config import RuleConfig
from deliverwatch.alerts.model import ACTIVE, HOLD, Signal

SECTIONS = ("spf", "dmarc", "dkim", "bimi", "mta_sts", "tlsrpt", "mx", "blocklists")
POLICY_RANK = {"none": 0, "quarantine": 1, "reject": 2}
SEVERITY = {"error": "high", "warning": "warning"}
RECORD_SECTIONS = ("spf", "dmarc")


def _section_status(report: dict[str, Any], section: str) -> str:
    value = report.get(section)
    return str(value.get("status", "")) if isinstance(value, dict) else ""


def _unknown_streak(reports: Sequence[dict[str, Any]], section: str) -> int:
    streak = 0
    for report in reports:
        if _section_status(report, section) != "unknown":
            break
        streak += 1
    return streak


def _findings(report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for item in report.get("findings") or []:
        code = str(item.get("code", ""))
        if item.get("severity") in SEVERITY and not code.startswith("dns."):
            found.setdefault(code, []).append(item)
    return found


def _known(report: dict[str, Any], code: str) -> bool:
    return _section_status(report, section_of(code)) != "unknown"


def regression_signals(
    rule: RuleConfig, domain: str, reports: Sequence[dict[str, Any]]
) -> list[Signal]:
    """Signals of ``domain`` from its reports, newest first; codes not returned are clear."""
    if not reports:
        return []
    signals: list[Signal] = []
    streaks = {section: _unknown_streak(reports, section) for section in SECTIONS}
    for section, streak in streaks.items():
        if streak >= rule.persist_audits:
            signals.append(_dns_signal(rule, domain, section, streak))
        elif streak:
            signals.append(_signal(rule, domain, f"dns:{section}", HOLD, "warning", section))
    # The findings each section had at its last known audit.
    current: dict[str, list[dict[str, Any]]] = {}
    held: set[str] = set()
    for section, streak in streaks.items():
        source = next(
            (r for r in reports[streak:] if _section_status(r, section) != "unknown"), None
        )
        if source is None:
            continue
        for code, items in _findings(source).items():
            if section_of(code) == section:
                current[code] = items
                if streak:
                    held.add(code)
    for code, items in sorted(current.items()):
        worst = "error" if any(i.get("severity") == "error" for i in items) else "warning"
        earlier = [r for r in reports[1:] if _known(r, code)]
        is_new = any(code not in _findings(r) for r in earlier)
        state = HOLD if code in held or not is_new else ACTIVE
        message = "; ".join(str(i.get("message", "")) for i in items)
        signals.append(
            _signal(
                rule,
                domain,
                code,
                state,
                SEVERITY[worst],
                section_of(code),
                summary=f"{domain}: {message or code}",
                evidence=(
                    f"audit finding {code} ({worst}): {message}",
                    "not present in an earlier audit of the history",
                ),
                fix=[str(i.get("fix", "")) for i in items if i.get("fix")],
            )
        )
    signals += _dmarc_policy(rule, domain, reports)
    signals += _record_changes(rule, domain, reports)
    return signals


def _dmarc_policy(rule: RuleConfig, domain: str, reports: Sequence[dict[str, Any]]) -> list[Signal]:
    if _section_status(reports[0], "dmarc") == "unknown":
        # the latest DMARC lookup failed: keep an open alert as it is, raise nothing new
        return [_signal(rule, domain, "dmarc.policy_weakened", HOLD, "high", "dmarc")]
    known = [r for r in reports if _section_status(r, "dmarc") not in ("unknown", "")]
    if not known or known[0] is not reports[0]:
        return []
    now = known[0]["dmarc"].get("policy")
    before = next(
        (r["dmarc"].get("policy") for r in known[1:] if r["dmarc"].get("policy") != now), None
    )
    if before is None or POLICY_RANK.get(str(now), -1) >= POLICY_RANK.get(str(before), -1):
        return []
    return [
        _signal(
            rule,
            domain,
            "dmarc.policy_weakened",
            ACTIVE,
            "high",
            "dmarc",
            summary=f"{domain}: DMARC policy weakened from p={before} to p={now}",
            evidence=(f"DMARC policy was p={before}, the latest audit found p={now}",),
        )
    ]


def _record_changes(
    rule: RuleConfig, domain: str, reports: Sequence[dict[str, Any]]
) -> list[Signal]:
    if len(reports) < 2:
        return []
    signals = []
    new, old = reports[0], reports[1]
    for section in RECORD_SECTIONS:
        statuses = (_section_status(new, section), _section_status(old, section))
        if "unknown" in statuses or "" in statuses:
            continue
        before, after = old[section].get("record"), new[section].get("record")
        if before and after and before != after:
            signals.append(
                _signal(
                    rule,
                    domain,
                    f"{section}.record_changed",
                    ACTIVE,
                    "warning",
                    section,
                    summary=f"{domain}: the {section.upper()} record changed",
                    evidence=(f"before: {before}", f"after: {after}"),
                )
            )
    return signals


def _dns_signal(rule: RuleConfig, domain: str, section: str, streak: int) -> Signal:
    return _signal(
        rule,
        domain,
        f"dns:{section}",
        ACTIVE,
        "warning",
        "dns",
        summary=f"{domain}: {section} lookups have failed in the last {streak} audits",
        evidence=(f"section {section} status unknown (DNS failure) in {streak} audits in a row",),
    )


def _signal(
    rule: RuleConfig,
    domain: str,
    subject: str,
    state: str,
    severity: str,
    section: str,
    *,
    summary: str = "",
    evidence: tuple[str, ...] = (),
    fix: list[str] | None = None,
) -> Signal:
    return Signal(
        rule=rule.name,
        kind="regression",
        domain=domain,
        subject=subject,
        state=state,  # type: ignore[arg-type]
        severity=severity,
        summary=summary,
        evidence=evidence,
        causes=SECTION_CAUSES.get(section, ()),
        actions=tuple(fix or ()) + SECTION_ACTIONS.get(section, ()),
        values={"section": section},
    )
