"""Run every check for a domain and many domains at once.

Lookups are staged so a domain costs as few round trips as possible: every record that does
not depend on another answer is requested in the first wave (including the names later checks
read, which warms the per-run cache), then the checks that need earlier answers (BIMI needs
the DMARC policy, MTA-STS the MX hosts, TLS-RPT whether MTA-STS is published).

    async with AuditSession(settings) as session:
        async for index, report in session.audit_many(["example.com", "example.org"]):
            ...
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol

from deliverwatch import http
from deliverwatch.auth import bimi, blocklists, dkim, dmarc, mta_sts, mx, requirements, spf, tlsrpt
from deliverwatch.auth.findings import Finding, dns_failure, finding
from deliverwatch.auth.orgdomain import organizational_domain
from deliverwatch.auth.report import DomainReport
from deliverwatch.dns import Resolver, normalize_name


class CheckResult(Protocol):
    """What every standard's result offers the audit."""

    findings: list[Finding]

    def to_dict(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class AuditOptions:
    """What to check beyond the records every domain has."""

    selectors: tuple[str, ...] = ()
    ips: tuple[str, ...] = ()
    dnsbl_zones: tuple[str, ...] = ()
    dbl_zones: tuple[str, ...] = ()
    common_selectors: bool = True
    per_domain_selectors: dict[str, tuple[str, ...]] = field(default_factory=dict)
    per_domain_ips: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def selectors_for(self, domain: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.per_domain_selectors.get(domain, ()), *self.selectors)))

    def ips_for(self, domain: str) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.per_domain_ips.get(domain, ()), *self.ips)))


async def audit_domain(
    domain: str, resolver: Resolver, options: AuditOptions, fetcher: http.Fetcher | None
) -> DomainReport:
    """Audit one domain; DNS failures become ``dns.*`` findings, never exceptions."""
    started = time.perf_counter()
    domain = normalize_name(domain)
    ips = options.ips_for(domain)
    # Warm the cache for the second-stage checks while the first stage runs.
    prefetch = [
        asyncio.ensure_future(resolver.txt(name))
        for name in (
            f"_mta-sts.{domain}",
            f"_smtp._tls.{domain}",
            f"default._bimi.{domain}",
            f"default._bimi.{organizational_domain(domain)}",
        )
    ]
    spf_r, dmarc_r, dkim_r, mx_r, bl_r, ip_results = await asyncio.gather(
        spf.check_spf(domain, resolver),
        dmarc.check_dmarc(domain, resolver),
        dkim.check_dkim(
            domain, resolver, options.selectors_for(domain), common=options.common_selectors
        ),
        mx.check_mx(domain, resolver),
        blocklists.check_blocklists(
            domain,
            resolver,
            ips=ips,
            dnsbl_zones=options.dnsbl_zones,
            dbl_zones=options.dbl_zones,
        ),
        asyncio.gather(*(mx.forward_confirmed(resolver, ip) for ip in ips)),
    )
    await asyncio.gather(*prefetch)
    mx_hosts = [h.host for h in mx_r.hosts]
    bimi_r, sts_r = await asyncio.gather(
        bimi.check_bimi(domain, resolver, dmarc_enforcing=dmarc_r.enforcing_known, fetcher=fetcher),
        mta_sts.check_mta_sts(domain, resolver, mx_hosts=mx_hosts, fetcher=fetcher),
    )
    tls_r = await tlsrpt.check_tlsrpt(domain, resolver, mta_sts_published=sts_r.published)

    checks: dict[str, CheckResult] = {
        "spf": spf_r,
        "dmarc": dmarc_r,
        "dkim": dkim_r,
        "bimi": bimi_r,
        "mta_sts": sts_r,
        "tlsrpt": tls_r,
        "mx": mx_r,
        "blocklists": bl_r,
    }
    findings: list[Finding] = [f for check in checks.values() for f in check.findings]
    sections = {name: check.to_dict() for name, check in checks.items()}
    sending = [_sending_ip(result, findings) for result in ip_results]
    reqs = requirements.evaluate(sections, sending)
    unmet = {p: r["unmet"] for p, r in reqs.items() if r["unmet"]}
    if unmet:
        text = "; ".join(f"{p}: {', '.join(items)}" for p, items in unmet.items())
        findings.append(finding("requirements.unmet", f"Bulk-sender requirements not met: {text}"))
    return DomainReport(
        domain=domain,
        findings=findings,
        sections=sections,
        requirements=reqs,
        sending_ips=sending,
        duration_ms=(time.perf_counter() - started) * 1000,
    )


def _sending_ip(result: mx.FcrdnsResult, findings: list[Finding]) -> dict[str, Any]:
    if result.failure is not None:
        findings.append(dns_failure(result.failure, f"reverse DNS of sending IP {result.address}"))
    elif result.confirmed is False:
        names = ", ".join(result.names) or "no PTR record"
        findings.append(
            finding(
                "rdns.no_fcrdns",
                f"Sending IP {result.address} has no forward-confirmed reverse DNS ({names})",
            )
        )
    return {"address": result.address, "ptr": list(result.names), "fcrdns": result.confirmed}


class AuditSession:
    """One run: one resolver (one cache) and one HTTP client shared by every domain."""

    def __init__(
        self,
        resolver: Resolver,
        options: AuditOptions,
        http_settings: http.HttpSettings | None,
        *,
        concurrency: int = 64,
    ) -> None:
        self.resolver = resolver
        self.options = options
        self.http_settings = http_settings
        self.concurrency = concurrency
        self.fetcher: http.Fetcher | None = None

    async def __aenter__(self) -> AuditSession:
        if self.http_settings is not None:
            self.fetcher = http.Fetcher(self.resolver, self.http_settings)
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self.fetcher is not None:
                await self.fetcher.aclose()
        finally:
            await self.resolver.aclose()

    async def audit(self, domain: str) -> DomainReport:
        return await audit_domain(domain, self.resolver, self.options, self.fetcher)

    async def audit_many(self, domains: Sequence[str]) -> AsyncIterator[tuple[int, DomainReport]]:
        """Yield ``(input index, report)`` as each domain finishes, ``concurrency`` at a time."""
        limit = asyncio.Semaphore(self.concurrency)

        async def one(index: int, name: str) -> tuple[int, DomainReport]:
            async with limit:
                return index, await self.audit(name)

        tasks = [asyncio.ensure_future(one(i, d)) for i, d in enumerate(domains)]
        try:
            for next_done in asyncio.as_completed(tasks):
                yield await next_done
        finally:
            for task in tasks:
                task.cancel()
