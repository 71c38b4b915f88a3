"""Reverse DNS of sending IPs, for grouping sources: concurrent, through the shared
:class:`~deliverwatch.dns.Resolver` (which caches and bounds concurrency), each PTR name
forward-confirmed (its A/AAAA must include the IP) before it names a provider."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from deliverwatch.auth.orgdomain import organizational_domain
from deliverwatch.dmarc.esp import Esp, esp_for
from deliverwatch.dns import Resolver

#: PTR names of one IP checked for forward confirmation (a few hosts have several).
MAX_NAMES = 3
Status = Literal["ok", "none", "failed", "skipped"]


@dataclass(frozen=True, slots=True)
class SourceName:
    """What reverse DNS says about a sending IP.

    ``status``: ``ok`` (a PTR name), ``none`` (no PTR record), ``failed`` (the lookup failed:
    unknown, not absent), ``skipped`` (not looked up: ``--no-rdns`` or over the limit).
    """

    ip: str
    status: Status
    ptr: str | None = None
    verified: bool = False
    base_domain: str | None = None
    esp: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ip": self.ip,
            "status": self.status,
            "ptr": self.ptr,
            "verified": self.verified,
            "base_domain": self.base_domain,
            "esp": self.esp,
        }


def skipped(ip: str) -> SourceName:
    return SourceName(ip, "skipped")


async def lookup_sources(
    resolver: Resolver,
    ips: Iterable[str],
    *,
    limit: int | None = None,
    esps: tuple[Esp, ...] | None = None,
) -> dict[str, SourceName]:
    """Reverse DNS of ``ips`` (in the order given; past ``limit`` they are skipped)."""
    unique = list(dict.fromkeys(ips))
    chosen = unique if limit is None else unique[:limit]
    found = await asyncio.gather(*(_lookup(resolver, ip, esps) for ip in chosen))
    names = {name.ip: name for name in found}
    for ip in unique[len(chosen) :]:
        names[ip] = skipped(ip)
    return names


async def _lookup(resolver: Resolver, ip: str, esps: tuple[Esp, ...] | None) -> SourceName:
    answer = await resolver.ptr(ip)
    if answer.failed:
        return SourceName(ip, "failed")
    if not answer.ok or not answer.records:
        return SourceName(ip, "none")
    candidates = sorted(answer.records)[:MAX_NAMES]
    checks = await asyncio.gather(*(_confirms(resolver, name, ip) for name in candidates))
    confirmed = [name for name, ok in zip(candidates, checks, strict=True) if ok]
    ptr = confirmed[0] if confirmed else candidates[0]
    return SourceName(
        ip,
        "ok",
        ptr=ptr,
        verified=bool(confirmed),
        base_domain=organizational_domain(ptr),
        esp=esp_for(ptr, esps) if confirmed else None,
    )


async def _confirms(resolver: Resolver, name: str, ip: str) -> bool:
    address = ipaddress.ip_address(ip)
    a, aaaa = await resolver.addresses(name)
    for record in (*a.records, *aaaa.records):
        try:
            if ipaddress.ip_address(record) == address:
                return True
        except ValueError:
            continue
    return False
