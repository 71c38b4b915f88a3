"""DMARC (RFC 7489, DMARCbis): find the record that covers a domain and audit it.

Policy discovery falls back to the organizational domain (RFC 7489 §6.6.3); external report
destinations must authorize the policy domain (RFC 7489 §7.1). Parsing lives in
:mod:`deliverwatch.auth.dmarc_record` (re-exported here): a record with syntax errors is
reported as ``dmarc.syntax_error`` and, when receivers still act on it, audited as they read it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, Final

from deliverwatch.auth.dmarc_record import (
    DmarcProblem,
    DmarcRecord,
    DmarcSyntaxError,
    DmarcUri,
    Policy,
    is_dmarc_record,
    parse_dmarc,
    parse_report_uri,
)
from deliverwatch.auth.findings import Finding, SectionStatus, dns_failure, finding, section_status
from deliverwatch.auth.orgdomain import organizational_domain
from deliverwatch.dns import Answer, Resolver, normalize_name

__all__ = [
    "DmarcProblem",
    "DmarcRecord",
    "DmarcResult",
    "DmarcSyntaxError",
    "DmarcUri",
    "ReportAuthorization",
    "check_dmarc",
    "is_dmarc_record",
    "parse_dmarc",
    "parse_report_uri",
]


@dataclass(frozen=True, slots=True)
class ReportAuthorization:
    """Whether a report destination accepts reports for the policy domain (RFC 7489 §7.1)."""

    uri: str
    domain: str
    external: bool
    authorized: bool | None  # None: the lookup failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "domain": self.domain,
            "external": self.external,
            "authorized": self.authorized,
        }


_DOWNGRADE: Final[dict[Policy, Policy]] = {
    "reject": "quarantine",
    "quarantine": "none",
    "none": "none",
}


@dataclass
class DmarcResult:
    """The DMARC section. ``to_dict`` gives values as receivers apply them: ``subdomain_policy``
    is sp= or else p=, ``non_existent_policy`` np= or else that, ``effective_policy`` the one
    for this domain (sp= when the record is inherited); ``tags`` holds what was published."""

    domain: str
    org_domain: str
    location: str | None = None
    record: str | None = None
    parsed: DmarcRecord | None = None
    inherited: bool = False
    tags: dict[str, str] = field(default_factory=dict)
    rua_authorization: list[ReportAuthorization] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    status: SectionStatus = "ok"

    @property
    def policy(self) -> Policy | None:
        """The published p= (``none`` when receivers fall back to it); None without a record."""
        return self.parsed.policy if self.parsed else None

    @property
    def effective_policy(self) -> Policy | None:
        """The policy for this domain: sp= of the organizational domain's record if inherited."""
        if self.parsed is None:
            return None
        return self.parsed.effective_subdomain_policy if self.inherited else self.parsed.policy

    @property
    def pct(self) -> int:
        return self.parsed.pct if self.parsed else 100

    @property
    def enforcing(self) -> bool:
        """quarantine/reject applied to all failing mail (pct=100), as BIMI requires.

        With DMARCbis t=y receivers apply one level lower: p=quarantine; t=y is not
        enforcing, p=reject; t=y still is.
        """
        policy = self.effective_policy
        if policy is None or self.parsed is None or self.pct < 100:
            return False
        if self.parsed.testing:
            policy = _DOWNGRADE[policy]
        return policy != "none"

    @property
    def enforcing_known(self) -> bool | None:
        """:attr:`enforcing`, or None when a DMARC lookup failed and the answer is unknown."""
        if self.parsed is None and self.status == "unknown":
            return None
        return self.enforcing

    def to_dict(self) -> dict[str, Any]:
        rec = self.parsed
        return {
            "record": self.record,
            "location": self.location,
            "org_domain": self.org_domain,
            "inherited": self.inherited,
            "policy": self.policy,
            "subdomain_policy": rec.effective_subdomain_policy if rec else None,
            "non_existent_policy": rec.effective_non_existent_policy if rec else None,
            "effective_policy": self.effective_policy,
            "pct": rec.pct if rec else None,
            "rua": [u.text for u in rec.rua] if rec else [],
            "ruf": [u.text for u in rec.ruf] if rec else [],
            "adkim": rec.adkim if rec else None,
            "aspf": rec.aspf if rec else None,
            "testing": rec.testing if rec else False,
            "tags": dict(self.tags),
            "rua_authorization": [a.to_dict() for a in self.rua_authorization],
            "status": self.status,
        }


async def check_dmarc(domain: str, resolver: Resolver) -> DmarcResult:
    """Find the DMARC record that covers ``domain`` and audit it."""
    domain = normalize_name(domain)
    org = organizational_domain(domain)
    result = DmarcResult(domain=domain, org_domain=org)
    # RFC 7489 §6.6.3: _dmarc.<domain>, then _dmarc.<organizational domain> from the PSL.
    # DMARCbis replaces this with a DNS tree walk (_dmarc.<each parent>, at most 8 labels,
    # steered by psd=), which also finds records on intermediate names (_dmarc.sub.example.com
    # for mail.sub.example.com); RFC 7489's fallback is what is implemented here. Both names
    # are asked at once: one round trip instead of two, for one unneeded (cached) query when
    # the domain has a record of its own.
    names = [f"_dmarc.{domain}"] + ([f"_dmarc.{org}"] if org != domain else [])
    answers = await asyncio.gather(*(resolver.txt(name) for name in names))
    found: Answer | None = None
    records: list[str] = []
    ignored: list[str] = []
    for answer in answers:
        if answer.failed:  # unknown whether a record exists: stop, never report "missing"
            result.findings.append(dns_failure(answer, f"DMARC record at {answer.name}"))
            return _finish(result, unknown=True)
        records = [r for r in answer.records if is_dmarc_record(r)]
        ignored += [f"{answer.name}: {r!r}" for r in answer.records if not is_dmarc_record(r)]
        if records:
            found = answer
            break
    if found is None:
        where = " or ".join(names)
        note = f" (TXT records not starting with v=DMARC1 are ignored: {'; '.join(ignored)})"
        result.findings.append(
            finding("dmarc.missing", f"No DMARC record at {where}" + (note if ignored else ""))
        )
        return _finish(result)
    result.location = found.name
    result.inherited = found is not answers[0]
    if len(records) > 1:  # §6.6.3 step 5: receivers apply no DMARC
        texts = "; ".join(repr(r) for r in records)
        result.findings.append(
            finding(
                "dmarc.multiple_records", f"{found.name} has {len(records)} DMARC records: {texts}"
            )
        )
        return _finish(result)
    result.record = records[0]
    try:
        result.parsed = parse_dmarc(records[0])
        result.tags = dict(result.parsed.tags)
    except DmarcSyntaxError as exc:
        result.parsed, result.tags = exc.fallback, exc.tags
        result.findings += [
            finding("dmarc.syntax_error", f"{found.name}: {p.message}") for p in exc.problems
        ]
    if result.parsed is None:
        return _finish(result)
    unknown = await _audit(result, result.parsed, resolver)
    return _finish(result, unknown=unknown)


async def _audit(result: DmarcResult, rec: DmarcRecord, resolver: Resolver) -> bool:
    """Policy and report findings for a usable record; True when a lookup failed."""
    add, where = result.findings.append, result.location
    for tag in rec.unknown_tags:
        add(
            finding("dmarc.unknown_tag", f"{where}: unknown tag {tag}={rec.tags[tag]!r} is ignored")
        )
    if result.inherited:
        add(
            finding(
                "dmarc.psd_subdomain",
                f"{result.domain} has no DMARC record of its own; {where} applies with "
                f"sp={rec.effective_subdomain_policy}",
            )
        )
    policy = result.effective_policy
    if policy == "none":
        tag = "sp" if result.inherited and rec.subdomain_policy else "p"
        add(finding("dmarc.policy_none", f"{where}: {tag}=none applies to {result.domain}"))
    elif not result.inherited:
        if rec.effective_subdomain_policy == "none":
            add(
                finding(
                    "dmarc.subdomain_policy_none",
                    f"{where}: sp=none leaves subdomains of {result.domain} unprotected",
                )
            )
        elif rec.effective_non_existent_policy == "none":
            add(
                finding(
                    "dmarc.subdomain_policy_none",
                    f"{where}: np=none leaves non-existent subdomains of {result.domain} "
                    "unprotected",
                )
            )
    if rec.pct < 100 and policy != "none":
        add(
            finding(
                "dmarc.pct_partial",
                f"{where}: pct={rec.pct} applies p={policy} to {rec.pct}% of failing mail",
            )
        )
    if rec.testing:
        add(finding("dmarc.testing", f"{where}: t=y, receivers apply one policy level lower"))
    for tag, uris in (("rua", rec.rua), ("ruf", rec.ruf)):
        for uri in uris:
            if uri.error:
                add(finding("dmarc.invalid_uri", f"{where}: {tag}: {uri.error}"))
    if not any(u.valid for u in rec.rua):
        add(finding("dmarc.no_rua", f"{where} has no usable rua= address"))
    return await _authorize(result, rec, resolver)


async def _authorize(result: DmarcResult, rec: DmarcRecord, resolver: Resolver) -> bool:
    """RFC 7489 §7.1: an external destination must publish v=DMARC1 at
    ``<policy domain>._report._dmarc.<destination>`` (a wildcard there authorizes everyone).

    Returns True when an authorization lookup failed (the section is then unknown)."""
    assert result.location is not None
    policy_domain = result.location.removeprefix("_dmarc.")
    policy_org = organizational_domain(policy_domain)
    uris: dict[str, tuple[str, str]] = {}  # uri text -> (tag, destination domain)
    for tag, entries in (("rua", rec.rua), ("ruf", rec.ruf)):
        for uri in entries:
            if uri.domain is not None:
                uris.setdefault(uri.text, (tag, uri.domain))
    external = sorted({d for _, d in uris.values() if organizational_domain(d) != policy_org})
    found = await asyncio.gather(
        *(resolver.txt(f"{policy_domain}._report._dmarc.{d}") for d in external)
    )
    answers: dict[str, Answer] = dict(zip(external, found, strict=True))
    for answer in found:
        if answer.failed:  # unknown, never "unauthorized"
            result.findings.append(dns_failure(answer, "DMARC report authorization"))
    for text, (tag, domain) in uris.items():
        lookup = answers.get(domain)
        authorized: bool | None
        if lookup is None:
            authorized = True  # same organizational domain: no authorization needed
        elif lookup.failed:
            authorized = None
        else:
            authorized = any(is_dmarc_record(r) for r in lookup.records)
            if not authorized:
                result.findings.append(
                    finding(
                        "dmarc.rua_unauthorized",
                        f"{tag} destination {text} has not authorized reports for "
                        f"{policy_domain}: no v=DMARC1 TXT record at {lookup.name}",
                    )
                )
        result.rua_authorization.append(
            ReportAuthorization(text, domain, lookup is not None, authorized)
        )
    return any(answer.failed for answer in found)


def _finish(result: DmarcResult, *, unknown: bool = False) -> DmarcResult:
    result.status = section_status(result.findings, unknown=unknown)
    return result
