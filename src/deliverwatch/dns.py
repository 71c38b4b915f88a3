"""The one DNS seam: every lookup deliverwatch makes goes through :class:`Resolver`.

Why our own layer over dnspython's stub resolver:

* a failed lookup (timeout, SERVFAIL, REFUSED) must never read as "record missing", so a
  lookup returns an :class:`Answer` whose ``status`` says which of the two happened;
* one run checks thousands of domains that share includes (``_spf.google.com``): answers are
  cached per run and concurrent lookups of the same name share one query in flight;
* bounded concurrency, one retry on failure, TCP fallback on truncation, and a port per
  nameserver (tests and local resolvers listen on ``127.0.0.1:5353``-style addresses).

Use::

    resolver = Resolver(["127.0.0.1:5300"], timeout=2.0)
    answer = await resolver.txt("example.com")
    if answer.failed: ...        # unknown: say so, do not guess
    elif answer.missing: ...     # NXDOMAIN or no record of that type
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, Literal

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.reversename

Status = Literal["ok", "nxdomain", "nodata", "timeout", "servfail", "refused", "error"]

#: Statuses that say nothing about whether a record exists.
FAILURE_STATUSES: Final = frozenset({"timeout", "servfail", "refused", "error"})
MAX_CNAME_HOPS: Final = 8
EDNS_PAYLOAD: Final = 1232  # the DNS flag day 2020 size: no fragmentation, TC above it


@dataclass(frozen=True, slots=True)
class Answer:
    """The outcome of one lookup, after CNAMEs are followed.

    ``records`` holds presentation text: TXT strings of one record joined (RFC 7208 §3.3,
    RFC 6376 §3.6.2.2), MX as ``"10 mx.example.com"``, names without the trailing dot.
    """

    name: str
    rtype: str
    status: Status
    records: tuple[str, ...] = ()
    cnames: tuple[str, ...] = ()
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def missing(self) -> bool:
        """True only when the server said there is no such record (NXDOMAIN or NODATA)."""
        return self.status in ("nxdomain", "nodata")

    @property
    def failed(self) -> bool:
        """True when the lookup did not get an answer: the record's existence is unknown."""
        return self.status in FAILURE_STATUSES

    def describe(self) -> str:
        """A short human text for findings: ``"TXT example.com: timeout"``."""
        detail = f" ({self.error})" if self.error else ""
        return f"{self.rtype} {self.name}: {self.status}{detail}"


@dataclass(frozen=True, slots=True)
class Nameserver:
    host: str
    port: int = 53

    @classmethod
    def parse(cls, text: str) -> Nameserver:
        """Parse ``host``, ``host:port``, ``[v6]:port`` or a bare IPv6 address."""
        text = text.strip()
        if text.startswith("["):
            host, _, rest = text[1:].partition("]")
            port = int(rest[1:]) if rest.startswith(":") else 53
        elif text.count(":") == 1:
            host, _, port_text = text.partition(":")
            port = int(port_text)
        else:
            host, port = text, 53
        ipaddress.ip_address(host)  # raises ValueError: nameservers are given as addresses
        if not 0 < port < 65536:
            raise ValueError(f"port out of range in nameserver {text!r}")
        return cls(host, port)

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def system_nameservers() -> list[Nameserver]:
    """The resolvers of /etc/resolv.conf, or 127.0.0.1 when there is none."""
    try:
        conf = dns.resolver.Resolver(configure=True)
        servers = [str(s) for s in conf.nameservers]
    except (dns.resolver.NoResolverConfiguration, OSError):
        servers = []
    return [Nameserver.parse(s) for s in servers] or [Nameserver("127.0.0.1")]


@dataclass
class ResolverStats:
    queries: int = 0
    cache_hits: int = 0
    retries: int = 0
    tcp_fallbacks: int = 0
    failures: dict[str, int] = field(default_factory=dict)


class Resolver:
    """Async, caching, concurrency-bounded DNS client for one run.

    ``timeout`` is per attempt; a failed attempt (timeout, SERVFAIL, network error) is retried
    ``retries`` times on the next nameserver, so a dead server costs at most
    ``timeout * (retries + 1)`` per lookup.
    """

    def __init__(
        self,
        nameservers: Iterable[str | Nameserver] | None = None,
        *,
        timeout: float = 2.0,
        retries: int = 1,
        concurrency: int = 256,
    ) -> None:
        given = [n if isinstance(n, Nameserver) else Nameserver.parse(n) for n in nameservers or ()]
        self.nameservers: list[Nameserver] = given or system_nameservers()
        self.timeout = timeout
        self.retries = retries
        self.stats = ResolverStats()
        self._limit = asyncio.Semaphore(concurrency)
        self._cache: dict[tuple[str, str], asyncio.Future[Answer]] = {}

    async def query(self, name: str, rtype: str) -> Answer:
        """Look ``name`` up once per run; concurrent callers share the query in flight."""
        key = (normalize_name(name), rtype.upper())
        future = self._cache.get(key)
        if future is not None:
            self.stats.cache_hits += 1
            return await asyncio.shield(future)
        future = asyncio.get_running_loop().create_future()
        self._cache[key] = future
        try:
            answer = await self._resolve(*key)
        except BaseException:  # cancelled mid-lookup: forget it so a later caller tries again
            del self._cache[key]
            future.cancel()
            raise
        future.set_result(answer)
        return answer

    async def txt(self, name: str) -> Answer:
        return await self.query(name, "TXT")

    async def addresses(self, name: str) -> tuple[Answer, Answer]:
        """A and AAAA of ``name``, looked up concurrently."""
        a, aaaa = await asyncio.gather(self.query(name, "A"), self.query(name, "AAAA"))
        return a, aaaa

    async def ptr(self, address: str) -> Answer:
        return await self.query(dns.reversename.from_address(address).to_text(), "PTR")

    async def _resolve(self, name: str, rtype: str) -> Answer:
        """Query, following CNAMEs across responses (authoritative servers stop at their zone)."""
        chain: list[str] = []
        current = name
        for _ in range(MAX_CNAME_HOPS):
            response, error = await self._exchange(current, rtype)
            if response is None:
                status: Status = error[0]
                return Answer(name, rtype, status, cnames=tuple(chain), error=error[1])
            rcode = response.rcode()
            records, target, chain_part = _extract(response, current, rtype)
            chain.extend(chain_part)
            if records:
                return Answer(name, rtype, "ok", tuple(records), tuple(chain))
            if rcode == dns.rcode.NXDOMAIN:
                return Answer(name, rtype, "nxdomain", cnames=tuple(chain))
            if rcode != dns.rcode.NOERROR:
                return Answer(
                    name, rtype, "error", cnames=tuple(chain), error=dns.rcode.to_text(rcode)
                )
            if target is None or target == current:
                return Answer(name, rtype, "nodata", cnames=tuple(chain))
            if target in chain[:-1] or target == name:
                return Answer(name, rtype, "error", cnames=tuple(chain), error="CNAME loop")
            current = target
        return Answer(name, rtype, "error", cnames=tuple(chain), error="CNAME chain too long")

    async def _exchange(
        self, name: str, rtype: str
    ) -> tuple[dns.message.Message | None, tuple[Status, str]]:
        try:
            qname = dns.name.from_text(name)
        except (dns.exception.DNSException, ValueError) as exc:
            return None, ("error", f"invalid name: {exc}")
        query = dns.message.make_query(
            qname, dns.rdatatype.from_text(rtype), use_edns=0, payload=EDNS_PAYLOAD
        )
        last: tuple[Status, str] = ("error", "no nameserver")
        start = random.randrange(len(self.nameservers))  # noqa: S311 - load spreading, not crypto
        for attempt in range(self.retries + 1):
            server = self.nameservers[(start + attempt) % len(self.nameservers)]
            if attempt:
                self.stats.retries += 1
            self.stats.queries += 1
            try:
                async with self._limit:
                    response, used_tcp = await dns.asyncquery.udp_with_fallback(
                        query, server.host, timeout=self.timeout, port=server.port
                    )
            except dns.exception.Timeout:
                last = ("timeout", f"no answer from {server} in {self.timeout:g}s")
                continue
            except (OSError, EOFError, dns.exception.DNSException) as exc:
                last = ("error", f"{server}: {exc.__class__.__name__}: {exc}".rstrip(": "))
                continue
            if used_tcp:
                self.stats.tcp_fallbacks += 1
            rcode = response.rcode()
            if rcode == dns.rcode.SERVFAIL:
                last = ("servfail", f"SERVFAIL from {server}")
                continue
            if rcode == dns.rcode.REFUSED:
                last = ("refused", f"REFUSED by {server}")
                continue
            return response, last
        self.stats.failures[last[0]] = self.stats.failures.get(last[0], 0) + 1
        return None, last


def normalize_name(name: str) -> str:
    """Lower-case, no trailing dot: the form names take everywhere in reports."""
    return name.strip().rstrip(".").lower()


def _extract(
    response: dns.message.Message, name: str, rtype: str
) -> tuple[list[str], str | None, list[str]]:
    """Records of ``rtype`` at the end of the CNAME chain from ``name``, the chain's last target."""
    by_name: dict[tuple[str, int], list[str]] = {}
    for rrset in response.answer:
        owner = normalize_name(rrset.name.to_text())
        by_name.setdefault((owner, rrset.rdtype), []).extend(_present(rd) for rd in rrset)
    wanted = dns.rdatatype.from_text(rtype)
    chain: list[str] = []
    current = name
    for _ in range(MAX_CNAME_HOPS):
        records = by_name.get((current, wanted))
        if records:
            return records, current, chain
        targets = by_name.get((current, dns.rdatatype.CNAME))
        if not targets or wanted == dns.rdatatype.CNAME:
            break
        current = targets[0]
        if current in chain:
            break
        chain.append(current)
    return [], (current if chain else None), chain


def _present(rdata: object) -> str:
    strings = getattr(rdata, "strings", None)
    if strings is not None:  # TXT/SPF: one record's character-strings are joined
        return b"".join(strings).decode("utf-8", errors="replace")
    exchange = getattr(rdata, "exchange", None)
    if exchange is not None:
        return f"{rdata.preference} {normalize_name(exchange.to_text())}"  # type: ignore[attr-defined]
    target = getattr(rdata, "target", None)
    if target is not None and not hasattr(rdata, "priority"):
        return normalize_name(target.to_text())
    address = getattr(rdata, "address", None)
    if address is not None:
        return str(address)
    return str(rdata.to_text())  # type: ignore[attr-defined]


def reverse_name(address: str) -> str:
    return normalize_name(dns.reversename.from_address(address).to_text())


def parse_mx(record: str) -> tuple[int, str]:
    pref, _, host = record.partition(" ")
    return int(pref), host


__all__: Sequence[str] = [
    "FAILURE_STATUSES",
    "Answer",
    "Nameserver",
    "Resolver",
    "Status",
    "normalize_name",
    "parse_mx",
    "reverse_name",
    "system_nameservers",
]
