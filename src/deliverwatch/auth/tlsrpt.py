"""SMTP TLS Reporting (RFC 8460): where sending MTAs report TLS failures for the domain.

The grammar (§3) is strict — case-sensitive ``%s`` strings, no spaces around ``=`` — and a
sender that finds no single valid record assumes the domain does not use TLS-RPT, so the
parser is strict too: a record that it rejects yields no reports.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final
from urllib.parse import urlsplit

from deliverwatch.auth.dmarc_record import hostname, mailto_address
from deliverwatch.auth.findings import Finding, SectionStatus, dns_failure, finding, section_status
from deliverwatch.dns import Resolver, normalize_name

VERSION: Final = "v=TLSRPTv1"
# §3: records not starting with the version are discarded. Matched loosely so near-misses
# ("v=tlsrptv1", " v=TLSRPTv1") are reported as syntax errors rather than as absent.
_CANDIDATE = re.compile(r"\s*v\s*=\s*tlsrptv1(?![0-9a-z_])", re.IGNORECASE)
_EXT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}\Z")
_EXT_VALUE = re.compile(r"[\x21-\x3a\x3c\x3e-\x7e]+\Z")
_WSP = " \t"


class TlsRptSyntaxError(ValueError):
    """The record does not match RFC 8460 §3; senders then send no reports."""


@dataclass(frozen=True)
class TlsRptRecord:
    rua: tuple[str, ...]
    extensions: Mapping[str, str] = field(default_factory=dict)


def is_tlsrpt_record(text: str) -> bool:
    """Whether a TXT record at ``_smtp._tls.<domain>`` claims to be TLS-RPT."""
    return _CANDIDATE.match(text) is not None


def parse_tlsrpt(text: str) -> TlsRptRecord:
    """Parse ``v=TLSRPTv1; rua=mailto:…,https://…``; raise :class:`TlsRptSyntaxError`."""
    fields = text.split(";")
    if fields[0].rstrip(_WSP) != VERSION:
        raise TlsRptSyntaxError(
            f"the record must start with exactly {VERSION} (case-sensitive), not "
            f"{fields[0].strip()!r}"
        )
    rua: tuple[str, ...] | None = None
    extensions: dict[str, str] = {}
    for index, raw in enumerate(fields[1:], 1):
        item = raw.strip(_WSP)
        if not item:
            if index == len(fields) - 1:
                break  # one trailing ";" is allowed
            raise TlsRptSyntaxError("empty field between ';' separators")
        name, eq, value = item.partition("=")
        if not eq or not _EXT_NAME.match(name):
            hint = " (no spaces are allowed around '=')" if eq else ""
            raise TlsRptSyntaxError(f"{item!r} is not a name=value field{hint}")
        if name == "rua":
            if rua is not None:
                raise TlsRptSyntaxError("rua= appears more than once")
            rua = _uris(value)
        elif name.lower() == "rua":
            raise TlsRptSyntaxError(
                f"{name}= must be written rua= (field names are case-sensitive)"
            )
        elif not _EXT_VALUE.match(value):
            raise TlsRptSyntaxError(f"extension {name}= has an invalid value {value!r}")
        else:
            extensions[name] = value
    if rua is None:
        raise TlsRptSyntaxError("the required rua= field is missing")
    return TlsRptRecord(rua, extensions)


def _uris(value: str) -> tuple[str, ...]:
    uris = tuple(uri.strip(_WSP) for uri in value.split(","))
    for uri in uris:
        scheme = uri.partition(":")[0].lower()
        if scheme == "mailto":
            address, why = mailto_address(uri)
            if address is None:
                raise TlsRptSyntaxError(f"rua: {why}")
        elif scheme == "https":
            try:
                host = urlsplit(uri).hostname
            except ValueError:
                host = None
            if host is None or (hostname(host) is None and not _is_ip_literal(host)):
                raise TlsRptSyntaxError(f"rua: {uri!r} is not a valid https: URL")
        else:
            # §3: reports go by mailto: (§5.3) or https: POST (§5.2), nothing else.
            raise TlsRptSyntaxError(f"rua: {uri!r} is not a mailto: or https: URI")
    return uris


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@dataclass
class TlsRptResult:
    domain: str
    location: str
    record: str | None = None
    parsed: TlsRptRecord | None = None
    findings: list[Finding] = field(default_factory=list)
    status: SectionStatus = "ok"

    @property
    def published(self) -> bool:
        """A single valid record: senders will send reports."""
        return self.parsed is not None

    @property
    def rua(self) -> list[str]:
        return list(self.parsed.rua) if self.parsed else []

    def to_dict(self) -> dict[str, Any]:
        return {"record": self.record, "rua": self.rua, "status": self.status}


async def check_tlsrpt(domain: str, resolver: Resolver, *, mta_sts_published: bool) -> TlsRptResult:
    """Look up and parse ``_smtp._tls.<domain>``. TLS-RPT matters most next to MTA-STS, whose
    failures are otherwise silent, so its absence is only noted when MTA-STS is published."""
    domain = normalize_name(domain)
    result = TlsRptResult(domain, f"_smtp._tls.{domain}")
    answer = await resolver.txt(result.location)
    if answer.failed:
        result.findings.append(dns_failure(answer, "TLS-RPT record"))
        result.status = section_status(result.findings, unknown=True)
        return result
    records = [r for r in answer.records if is_tlsrpt_record(r)]
    if not records:
        if mta_sts_published:
            result.findings.append(
                finding(
                    "tlsrpt.missing_with_mta_sts",
                    f"{domain} publishes MTA-STS but no TLS-RPT record at {result.location}",
                )
            )
    elif len(records) > 1:  # §3: not exactly one record means no TLS-RPT
        texts = "; ".join(repr(r) for r in records)
        result.findings.append(
            finding(
                "tlsrpt.syntax_error",
                f"{result.location} has {len(records)} TLS-RPT records, so senders use none: "
                f"{texts}",
                fix="Keep exactly one TXT record starting with v=TLSRPTv1 at _smtp._tls.<domain>.",
            )
        )
    else:
        result.record = records[0]
        try:
            result.parsed = parse_tlsrpt(records[0])
        except TlsRptSyntaxError as exc:
            result.findings.append(
                finding("tlsrpt.syntax_error", f"{result.location}: {exc}; senders send no reports")
            )
    result.status = section_status(result.findings)
    return result
