"""What changed between two audits of a domain (pure functions over report dicts).

``diff_audits(old, new)`` compares two reports as ``deliverwatch check --format json`` gives
them (one domain's object) and lists each difference as a :class:`Change` with a hint for the
alert engine: ``worse`` (a regression: a record removed, a policy weakened, a key shortened,
a new blocklist listing), ``better`` or ``neutral``.

A section whose status is ``unknown`` (a lookup failed) says nothing about the records: it is
never compared, so a DNS failure is never reported as "record removed". The first audit that
finds a section unknown gets one ``unknown`` change for it; :func:`baseline_report` lets the
caller compare the next good audit with the last audit where the section was known, so a
change made during the outage is still seen.

The input is data read back from the store, possibly written by an older version: every
field is read defensively, and no shape of dict makes these functions raise.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from deliverwatch.history import sections as sec
from deliverwatch.history.sections import SECTION_TITLES, Diff

ChangeKind = Literal["added", "removed", "changed", "unknown"]
SeverityHint = Literal["worse", "better", "neutral"]
CHANGE_KINDS: tuple[ChangeKind, ...] = ("added", "removed", "changed", "unknown")
SEVERITY_HINTS: tuple[SeverityHint, ...] = ("worse", "better", "neutral")

#: Finding code prefix → the report section it belongs to (``dns.*`` belong to none).
FINDING_SECTIONS = {
    "spf": "spf",
    "dmarc": "dmarc",
    "dkim": "dkim",
    "bimi": "bimi",
    "mta_sts": "mta_sts",
    "tlsrpt": "tlsrpt",
    "mx": "mx",
    "blocklist": "blocklists",
    "rdns": "sending_ips",
}
_SEVERITY_RANK = {"info": 1, "warning": 2, "error": 3}


@dataclass(frozen=True, slots=True)
class Change:
    """One difference between two audits.

    ``field`` names what changed inside the section (``record``, ``p``, ``selector:s1``,
    ``host:mx1.example.com``, ``dnsbl.example:192.0.2.1``, a finding code…); ``code`` is the
    finding code for changes in the ``findings`` section. ``before``/``after`` are JSON values.
    """

    kind: ChangeKind
    section: str
    field: str
    before: Any
    after: Any
    message: str
    severity_hint: SeverityHint = "neutral"
    code: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "section": self.section,
            "field": self.field,
            "code": self.code,
            "before": self.before,
            "after": self.after,
            "message": self.message,
            "severity_hint": self.severity_hint,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Change:
        kind = data.get("kind")
        hint = data.get("severity_hint")
        code = data.get("code")
        return cls(
            kind=kind if kind in CHANGE_KINDS else "changed",
            section=str(data.get("section", "")),
            field=str(data.get("field", "")),
            before=data.get("before"),
            after=data.get("after"),
            message=str(data.get("message", "")),
            severity_hint=hint if hint in SEVERITY_HINTS else "neutral",
            code=code if isinstance(code, str) else None,
        )


def section_status(report: Any, name: str) -> str | None:
    """The status of a report's section, or None when the report has no such section."""
    section = report.get(name) if isinstance(report, dict) else None
    if not isinstance(section, dict):
        return None
    status = section.get("status")
    return status if isinstance(status, str) else "ok"


def unknown_sections(report: Any) -> set[str]:
    return {name for name in SECTION_TITLES if section_status(report, name) == "unknown"}


def diff_audits(old: dict[str, Any], new: dict[str, Any]) -> list[Change]:
    """Every difference from ``old`` to ``new`` (two reports of one domain), in report order."""
    old = old if isinstance(old, dict) else {}
    new = new if isinstance(new, dict) else {}
    diff = Diff()
    skipped: set[str] = set()
    for name, title in SECTION_TITLES.items():
        before, after = section_status(old, name), section_status(new, name)
        if before is None or after is None:
            skipped.add(name)  # not in one of the reports: nothing to compare
            continue
        if after == "unknown" or before == "unknown":
            skipped.add(name)
            if after == "unknown" and before != "unknown":
                diff.add(
                    "unknown",
                    name,
                    "status",
                    before,
                    after,
                    f"{title} could not be checked (a DNS lookup failed); "
                    "it is compared again once it answers",
                )
            if name == "blocklists":
                # Each entry knows whether its own lookup answered (``listed`` is null when
                # not): the lists that did answer are still compared.
                sec.diff_blocklists(diff, old[name], new[name])
            continue
        if after == "not_checked" and name != "mta_sts":
            skipped.add(name)  # nothing was looked up (configuration), not a removal
            continue
        sec.DIFFERS[name](diff, old[name], new[name])
    sec.diff_sending_ips(diff, old.get("sending_ips"), new.get("sending_ips"))
    if not unknown_sections(old) | unknown_sections(new):
        sec.diff_requirements(diff, old.get("requirements"), new.get("requirements"))
    _diff_findings(diff, old.get("findings"), new.get("findings"), skipped)
    return [Change(*entry) for entry in diff.entries]


def _findings_by_code(value: Any, skipped: set[str]) -> dict[str, tuple[int, list[str]]]:
    """code → (worst severity rank, messages), leaving out codes of sections not compared."""
    out: dict[str, tuple[int, list[str]]] = {}
    for item in value if isinstance(value, list) else []:
        if not isinstance(item, dict) or not isinstance(item.get("code"), str):
            continue
        code: str = item["code"]
        prefix = code.split(".", 1)[0]
        if prefix in ("dns", "requirements") or FINDING_SECTIONS.get(prefix) in skipped:
            continue  # failures are reported as ``unknown``; requirements item by item
        rank = _SEVERITY_RANK.get(str(item.get("severity")), 1)
        message = item.get("message")
        worst, messages = out.get(code, (0, []))
        out[code] = (max(worst, rank), [*messages, message if isinstance(message, str) else code])
    return out


def _diff_findings(diff: Diff, old: Any, new: Any, skipped: set[str]) -> None:
    if not isinstance(old, list) or not isinstance(new, list):
        return
    before, after = _findings_by_code(old, skipped), _findings_by_code(new, skipped)
    names = {rank: name for name, rank in _SEVERITY_RANK.items()}
    for code in sorted(before.keys() | after.keys()):
        if code not in before:
            rank, messages = after[code]
            hint: SeverityHint = "worse" if rank >= 2 else "neutral"
            diff.add(
                "added",
                "findings",
                code,
                None,
                sorted(messages),
                f"New {names[rank]} {code}: {messages[0]}",
                hint,
                code,
            )
        elif code not in after:
            rank, messages = before[code]
            hint = "better" if rank >= 2 else "neutral"
            diff.add(
                "removed",
                "findings",
                code,
                sorted(messages),
                None,
                f"Resolved {code}: {messages[0]}",
                hint,
                code,
            )
        else:
            (old_rank, old_msgs), (new_rank, new_msgs) = before[code], after[code]
            if old_rank == new_rank and sorted(old_msgs) == sorted(new_msgs):
                continue
            if new_rank != old_rank:
                hint = "worse" if new_rank > old_rank else "better"
                text = f"{code} is now {names[new_rank]} (was {names[old_rank]}): {new_msgs[0]}"
            else:
                hint = sec.compare(len(old_msgs), len(new_msgs), higher_is="worse")
                text = f"{code} changed: {new_msgs[0]}"
                if len(new_msgs) != len(old_msgs):
                    text = f"{code} now reported {len(new_msgs)} times (was {len(old_msgs)})"
            diff.add(
                "changed", "findings", code, sorted(old_msgs), sorted(new_msgs), text, hint, code
            )


def baseline_report(previous: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """What the next audit is compared with: the latest report, with each section it could not
    check (``unknown``) taken from the most recent older report where that section was known,
    together with that report's findings for the section. ``previous`` is newest first."""
    if not previous:
        return None
    base = copy.deepcopy(previous[0]) if isinstance(previous[0], dict) else {}
    missing = unknown_sections(base)
    if not missing:
        return base
    kept = [f for f in _findings(base) if _finding_section(f) not in missing]
    for older in previous[1:]:
        if not isinstance(older, dict):
            continue
        for name in [
            n for n in sorted(missing) if section_status(older, n) not in (None, "unknown")
        ]:
            base[name] = copy.deepcopy(older[name])
            kept += [copy.deepcopy(f) for f in _findings(older) if _finding_section(f) == name]
            missing.discard(name)
        if not missing:
            break
    base["findings"] = kept
    return base


def _findings(report: dict[str, Any]) -> list[Any]:
    value = report.get("findings")
    return value if isinstance(value, list) else []


def _finding_section(item: Any) -> str | None:
    code = item.get("code") if isinstance(item, dict) else None
    return FINDING_SECTIONS.get(code.split(".", 1)[0]) if isinstance(code, str) else None
