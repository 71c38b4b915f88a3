"""MX records and forward-confirmed reverse DNS (FCrDNS).

Receivers judge a mail server by its reverse DNS: the address's PTR name must resolve back to the
address (FCrDNS), which Gmail requires of bulk senders. The same check serves the MX hosts here
and the sending IPs in the audit (:func:`forward_confirmed`).
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from deliverwatch.auth.findings import (
    Finding,
    SectionStatus,
    Severity,
    dns_failure,
    finding,
    section_status,
)
from deliverwatch.dns import Answer, Resolver, normalize_name, parse_mx

#: PTR names checked per address; more is a misconfiguration, and each costs a lookup.
MAX_PTR_NAMES: Final = 10


@dataclass(frozen=True, slots=True)
class FcrdnsResult:
    """Reverse DNS of one address. ``confirmed`` is None when a lookup failed (``failure``)."""

    address: str
    names: tuple[str, ...] = ()
    confirmed: bool | None = False
    failure: Answer | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "names": list(self.names), "fcrdns": self.confirmed}


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


async def forward_confirmed(resolver: Resolver, ip: str) -> FcrdnsResult:
    """PTR of ``ip``, then A (or AAAA) of each PTR name: confirmed if one returns ``ip``.

    Raises ValueError if ``ip`` is not an IP address.
    """
    address = ipaddress.ip_address(ip.strip())
    text = str(address)
    ptr = await resolver.ptr(text)
    if ptr.failed:
        return FcrdnsResult(text, confirmed=None, failure=ptr)
    names = tuple(dict.fromkeys(n for n in ptr.records if n))[:MAX_PTR_NAMES]
    if not names:
        return FcrdnsResult(text)
    rtype = "A" if address.version == 4 else "AAAA"
    answers = await asyncio.gather(*(resolver.query(n, rtype) for n in names))
    for answer in answers:
        # Compare as addresses: IPv6 has many spellings of one address.
        if answer.ok and any(_same_address(r, address) for r in answer.records):
            return FcrdnsResult(text, names, True)
    failed = next((a for a in answers if a.failed), None)
    if failed is not None:
        return FcrdnsResult(text, names, None, failed)
    return FcrdnsResult(text, names, False)


def _same_address(record: str, address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    try:
        return ipaddress.ip_address(record) == address
    except ValueError:
        return False


@dataclass(slots=True)
class MxHost:
    host: str
    preference: int
    addresses: tuple[str, ...] = ()
    ptr: list[FcrdnsResult] = field(default_factory=list)
    cnames: tuple[str, ...] = ()  # the CNAME chain if the MX target is an alias (RFC 5321 §5.1)

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "preference": self.preference,
            "addresses": list(self.addresses),
            "ptr": [p.to_dict() for p in self.ptr],
        }


@dataclass
class MxResult:
    domain: str
    hosts: list[MxHost] = field(default_factory=list)
    null_mx: bool = False
    findings: list[Finding] = field(default_factory=list)
    status: SectionStatus = "not_checked"

    def to_dict(self) -> dict[str, Any]:
        return {
            "hosts": [h.to_dict() for h in self.hosts],
            "null_mx": self.null_mx,
            "status": self.status,
        }


async def check_mx(domain: str, resolver: Resolver) -> MxResult:
    """MX hosts by preference, their addresses, and each address's FCrDNS."""
    domain = normalize_name(domain)
    result = MxResult(domain)
    findings = result.findings
    answer = await resolver.query(domain, "MX")
    if answer.failed:
        findings.append(dns_failure(answer, f"MX records of {domain}"))
        result.status = section_status(findings, unknown=True)
        return result
    if not answer.ok:
        findings.append(
            finding(
                "mx.missing",
                f"{domain} has no MX record; senders fall back to its A/AAAA record "
                "(RFC 5321 §5.1)",
            )
        )
        result.status = section_status(findings)
        return result

    # dns.py presents the root name of a null MX ("0 .") as "".
    parsed = sorted((parse_mx(r) for r in answer.records), key=lambda p: (p[0], p[1]))
    real = [(pref, host) for pref, host in parsed if host]
    if len(real) < len(parsed):
        result.null_mx = True
        if not real:  # RFC 7505 §3: the domain accepts no mail
            message = f"{domain} publishes a null MX: it accepts no mail"
            findings.append(finding("mx.null_mx", message))
            result.status = section_status(findings)
            return result
        findings.append(
            finding(  # RFC 7505 §3: a null MX MUST be the only MX record
                "mx.null_mx",
                f"{domain} publishes a null MX next to {len(real)} other MX records; RFC 7505 "
                "forbids mixing them, and senders may treat the domain as accepting no mail",
                severity=Severity.WARNING,
                fix="Remove the null MX (0 .) if the domain receives mail, or the other MX records "
                "if it does not.",
            )
        )

    result.hosts = [MxHost(host, pref) for pref, host in real]
    lookups = [h for h in result.hosts if not _is_ip(h.host)]
    for host in result.hosts:
        if _is_ip(host.host):  # RFC 5321 §5.1: MX names a host, never an address literal
            findings.append(
                finding(
                    "mx.points_to_ip",
                    f"MX record {host.preference} {host.host} names an IP address",
                )
            )
    answers = await asyncio.gather(*(resolver.addresses(h.host) for h in lookups))
    unknown = False
    resolved: list[tuple[MxHost, tuple[Answer, Answer]]] = []
    for host, (a, aaaa) in zip(lookups, answers, strict=True):
        host.addresses = (*a.records, *aaaa.records)
        host.cnames = a.cnames or aaaa.cnames
        for failed in (a, aaaa):
            if failed.failed:
                unknown = True
                findings.append(dns_failure(failed, f"address of MX host {host.host}"))
        if host.cnames and host.addresses:
            findings.append(
                finding(
                    "mx.points_to_cname",
                    f"MX host {host.host} is a CNAME to {host.cnames[-1]}",
                )
            )
        resolved.append((host, (a, aaaa)))
    working = any(h.addresses for h in result.hosts)
    for host, (a, aaaa) in resolved:
        if not host.addresses and not a.failed and not aaaa.failed:
            alias = f" (CNAME to {host.cnames[-1]})" if host.cnames else ""
            message = f"MX host {host.host}{alias} has no A or AAAA record"
            if working:  # senders move on to the next host: degraded, not broken
                message += "; other MX hosts still receive mail"
            findings.append(
                finding(
                    "mx.host_unresolvable", message, severity=Severity.WARNING if working else None
                )
            )

    addresses = list(dict.fromkeys(a for h in result.hosts for a in h.addresses))
    checks = await asyncio.gather(*(forward_confirmed(resolver, ip) for ip in addresses))
    by_address = dict(zip(addresses, checks, strict=True))
    for host in result.hosts:
        host.ptr = [by_address[a] for a in host.addresses]
    for ip, check in by_address.items():
        owners = ", ".join(h.host for h in result.hosts if ip in h.addresses)
        if check.failure is not None:
            unknown = True
            findings.append(dns_failure(check.failure, f"reverse DNS of {ip} (MX {owners})"))
        elif check.confirmed is False:
            detail = (
                f"PTR {', '.join(check.names)} does not resolve back to it"
                if check.names
                else "no PTR record"
            )
            findings.append(
                finding("mx.ptr_mismatch", f"Address {ip} of MX host {owners} has {detail}")
            )
    result.status = section_status(findings, unknown=unknown)
    return result


__all__: Sequence[str] = ["FcrdnsResult", "MxHost", "MxResult", "check_mx", "forward_confirmed"]
