"""What the aggregate reports say about a domain, from per-day volumes (pure functions).

Definitions (docs/dmarc.md):

* A message *passes DMARC* when an aligned DKIM signature or an aligned SPF identity passed
  (the report's ``policy_evaluated`` ``dkim`` / ``spf``), RFC 7489 §4.2. Rates are over
  messages, not records.
* Sources are sending IPs, grouped by the provider their forward-confirmed reverse DNS names
  (``esp.py``) and by the organizational domain of their PTR name.
* *Legitimate* sources are IPs that pass DMARC at least sometimes in the window: someone set
  them up to sign or to be in SPF. Their failing messages are what a ``quarantine`` or
  ``reject`` policy would break; the readiness share is those failures over their volume.
  IPs that never pass are spoofing, or a real service not yet authorized: they are listed
  as failing sources, and a policy would (rightly, or until fixed) block them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from deliverwatch.dmarc.rdns import SourceName, skipped

#: Readiness: the share of legitimate volume that may fail before a stricter policy is
#: called unsafe.
READY_THRESHOLD = 0.01
#: Failing sources and readiness causes listed (the totals count them all).
MAX_LISTED = 50


@dataclass(frozen=True, slots=True)
class Volume:
    """Messages of one kind in the window (the day rollup, summed over days)."""

    domain: str
    source_ip: str
    reporter: str
    dmarc_pass: bool
    dkim_aligned: bool
    spf_aligned: bool
    disposition: str
    count: int


@dataclass(frozen=True, slots=True)
class Rate:
    count: int
    total: int

    @property
    def value(self) -> float | None:
        return self.count / self.total if self.total else None

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "total": self.total, "rate": self.value}


@dataclass(slots=True)
class Tally:
    """Messages and their outcomes for some slice (a source, a group, a reporter…)."""

    messages: int = 0
    dmarc_pass: int = 0
    dkim_aligned: int = 0
    spf_aligned: int = 0

    def add(self, volume: Volume) -> None:
        self.messages += volume.count
        if volume.dmarc_pass:
            self.dmarc_pass += volume.count
        if volume.dkim_aligned:
            self.dkim_aligned += volume.count
        if volume.spf_aligned:
            self.spf_aligned += volume.count

    @property
    def failed(self) -> int:
        return self.messages - self.dmarc_pass

    def rates(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "dmarc_pass": Rate(self.dmarc_pass, self.messages).to_dict(),
            "dkim_aligned": Rate(self.dkim_aligned, self.messages).to_dict(),
            "spf_aligned": Rate(self.spf_aligned, self.messages).to_dict(),
        }


GroupKind = Literal["esp", "rdns", "no-rdns", "rdns-failed", "not-looked-up"]


@dataclass(slots=True)
class Group:
    """Sources sharing a provider or a reverse DNS base domain."""

    name: str
    kind: GroupKind
    tally: Tally = field(default_factory=Tally)
    ips: set[str] = field(default_factory=set)
    unverified_ips: set[str] = field(default_factory=set)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "ips": len(self.ips),
            "unverified_ips": len(self.unverified_ips),
            **self.tally.rates(),
        }


@dataclass(frozen=True, slots=True)
class SourceStats:
    """One sending IP."""

    name: SourceName
    group: str
    tally: Tally

    @property
    def legitimate(self) -> bool:
        return self.tally.dmarc_pass > 0

    @property
    def verdict(self) -> str:
        if self.legitimate:
            return "legitimate (passes sometimes): these failures would be quarantined/rejected"
        if self.name.esp:
            return (
                f"never passes; {self.name.esp} is not authorized for this domain "
                "(add it to SPF or have it sign with your DKIM key), or it is spoofing"
            )
        return "never passes: spoofing, or a service not yet authorized"

    @property
    def label(self) -> str:
        """The verdict in a few words (the text summary's column)."""
        if self.legitimate:
            return "legitimate, partly failing"
        if self.name.esp:
            return f"{self.name.esp} not authorized, or spoofing"
        return "spoofing or not authorized"

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.name.to_dict(),
            "group": self.group,
            "legitimate": self.legitimate,
            "failed": self.tally.failed,
            "verdict": self.verdict,
            **self.tally.rates(),
        }


@dataclass(frozen=True, slots=True)
class Readiness:
    """Can the domain move to ``quarantine``/``reject``?"""

    legitimate_messages: int
    would_fail: int
    threshold: float
    causes: tuple[SourceStats, ...]
    cause_groups: tuple[tuple[str, int], ...]

    @property
    def share(self) -> float | None:
        return self.would_fail / self.legitimate_messages if self.legitimate_messages else None

    @property
    def ready(self) -> bool | None:
        share = self.share
        return None if share is None else share < self.threshold

    def to_dict(self) -> dict[str, Any]:
        return {
            "ready": self.ready,
            "legitimate_messages": self.legitimate_messages,
            "would_fail": self.would_fail,
            "share": self.share,
            "threshold": self.threshold,
            "causes": [cause.to_dict() for cause in self.causes[:MAX_LISTED]],
            "cause_groups": [{"group": g, "would_fail": n} for g, n in self.cause_groups],
        }


@dataclass(frozen=True, slots=True)
class Summary:
    domain: str | None
    since: datetime | None
    until: datetime | None
    reports: int
    total: Tally
    dispositions: dict[str, int]
    reporters: dict[str, Tally]
    domains: dict[str, Tally]
    by_esp: tuple[Group, ...]
    by_rdns: tuple[Group, ...]
    failing: tuple[SourceStats, ...]
    readiness: Readiness
    sources: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            "reports": self.reports,
            **self.total.rates(),
            "dispositions": dict(self.dispositions),
            "reporters": [
                {"reporter": name, **tally.rates()} for name, tally in self.reporters.items()
            ],
            "domains": [{"domain": name, **tally.rates()} for name, tally in self.domains.items()],
            "sources": self.sources,
            "by_esp": [group.to_dict() for group in self.by_esp],
            "by_rdns": [group.to_dict() for group in self.by_rdns],
            "failing_sources": [source.to_dict() for source in self.failing[:MAX_LISTED]],
            "failing_source_count": len(self.failing),
            "readiness": self.readiness.to_dict(),
        }


def ips_by_volume(volumes: Iterable[Volume]) -> list[str]:
    """Source IPs, most messages first (the order to look them up in, under a limit)."""
    totals: dict[str, int] = defaultdict(int)
    for volume in volumes:
        totals[volume.source_ip] += volume.count
    return sorted(totals, key=lambda ip: (-totals[ip], ip))


def group_name(name: SourceName) -> tuple[str, GroupKind]:
    """The reverse DNS group of a source."""
    if name.status == "ok" and name.base_domain:
        return name.base_domain, "rdns"
    if name.status == "none":
        return "(no reverse DNS)", "no-rdns"
    if name.status == "failed":
        return "(reverse DNS lookup failed)", "rdns-failed"
    return "(not looked up)", "not-looked-up"


def summarize(
    volumes: Iterable[Volume],
    names: Mapping[str, SourceName] | None = None,
    *,
    domain: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    reports: int = 0,
    threshold: float = READY_THRESHOLD,
) -> Summary:
    """The summary of ``volumes``, with sources named by ``names`` (IP → reverse DNS)."""
    names = names or {}
    total = Tally()
    dispositions: dict[str, int] = defaultdict(int)
    reporters: dict[str, Tally] = defaultdict(Tally)
    domains: dict[str, Tally] = defaultdict(Tally)
    per_ip: dict[str, Tally] = defaultdict(Tally)
    for volume in volumes:
        total.add(volume)
        dispositions[volume.disposition] += volume.count
        reporters[volume.reporter].add(volume)
        domains[volume.domain].add(volume)
        per_ip[volume.source_ip].add(volume)
    sources = []
    esp_groups: dict[str, Group] = {}
    rdns_groups: dict[str, Group] = {}
    for ip, tally in per_ip.items():
        name = names.get(ip) or skipped(ip)
        group, kind = group_name(name)
        source = SourceStats(name, name.esp or group, tally)
        sources.append(source)
        _add(rdns_groups, group, kind, source)
        if name.esp:
            _add(esp_groups, name.esp, "esp", source)
    failing = tuple(
        sorted(
            (s for s in sources if s.tally.failed),
            key=lambda s: (-s.tally.failed, s.name.ip),
        )
    )
    return Summary(
        domain=domain,
        since=since,
        until=until,
        reports=reports,
        total=total,
        dispositions=_by_count(dispositions),
        reporters=_by_messages(reporters),
        domains=_by_messages(domains),
        by_esp=_groups(esp_groups),
        by_rdns=_groups(rdns_groups),
        failing=failing,
        readiness=readiness(sources, threshold),
        sources=len(sources),
    )


def readiness(sources: Iterable[SourceStats], threshold: float = READY_THRESHOLD) -> Readiness:
    """The share of legitimate sources' volume that fails DMARC, and which sources cause it."""
    legitimate = [source for source in sources if source.legitimate]
    causes = sorted(
        (s for s in legitimate if s.tally.failed), key=lambda s: (-s.tally.failed, s.name.ip)
    )
    groups: dict[str, int] = defaultdict(int)
    for cause in causes:
        groups[cause.group] += cause.tally.failed
    return Readiness(
        legitimate_messages=sum(s.tally.messages for s in legitimate),
        would_fail=sum(s.tally.failed for s in causes),
        threshold=threshold,
        causes=tuple(causes),
        cause_groups=tuple(sorted(groups.items(), key=lambda item: (-item[1], item[0]))),
    )


def _add(groups: dict[str, Group], name: str, kind: GroupKind, source: SourceStats) -> None:
    group = groups.get(name)
    if group is None:
        group = groups[name] = Group(name, kind)
    tally = group.tally
    tally.messages += source.tally.messages
    tally.dmarc_pass += source.tally.dmarc_pass
    tally.dkim_aligned += source.tally.dkim_aligned
    tally.spf_aligned += source.tally.spf_aligned
    group.ips.add(source.name.ip)
    if source.name.status == "ok" and not source.name.verified:
        group.unverified_ips.add(source.name.ip)


def _groups(groups: dict[str, Group]) -> tuple[Group, ...]:
    return tuple(sorted(groups.values(), key=lambda g: (-g.tally.messages, g.name)))


def _by_messages(tallies: dict[str, Tally]) -> dict[str, Tally]:
    return dict(sorted(tallies.items(), key=lambda item: (-item[1].messages, item[0])))


def _by_count(counts: dict[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))
