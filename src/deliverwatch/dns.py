"""The one DNS seam: every lookup deliverwatch makes goes through :class:`Resolver`.

Why our own layer over dnspython's stub resolver:

* a failed lookup (timeout, SERVFAIL, REFUSED) must never read as "record missing", so a
  lookup returns an :class:`Answer` whose ``status`` says which of the two happened;
* one run checks thousands of domains that share includes (``_spf.google.com``): answers are
  cached per run and concurrent lookups of the same name share one query in flight;
* bounded concurrency, one retry on failure, TCP fallback on truncation, and a port per
  nameserver (tests and local resolvers listen on ``127.0.0.1:5353``-style addresses);
* speed: a run makes tens of thousands of queries, so the transport keeps a few UDP sockets
  per nameserver and reads messages as bytes (:mod:`deliverwatch.dnstransport`,
  :mod:`deliverwatch.dnswire`), and a nameserver that has stopped answering is skipped at
  once rather than waited on by every lookup.

Use::

    resolver = Resolver(["127.0.0.1:5300"], timeout=2.0)
    answer = await resolver.txt("example.com")
    if answer.failed: ...        # unknown: say so, do not guess
    elif answer.missing: ...     # NXDOMAIN or no record of that type
"""

from __future__ import annotations

import asyncio
import collections
import ipaddress
import random
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.resolver
import dns.reversename

from deliverwatch.dnstransport import Reply, Server
from deliverwatch.dnswire import EDNS_PAYLOAD as EDNS_PAYLOAD
from deliverwatch.dnswire import Answers, question_wire
from deliverwatch.domainname import normalize_name as normalize_name

Status = Literal["ok", "nxdomain", "nodata", "timeout", "servfail", "refused", "error"]

#: Statuses that say nothing about whether a record exists.
FAILURE_STATUSES: Final = frozenset({"timeout", "servfail", "refused", "error"})
MAX_CNAME_HOPS: Final = 8


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
    #: Attempts not sent because the nameserver was unresponsive (they fail as "timeout").
    skipped: int = 0
    failures: dict[str, int] = field(default_factory=dict)


class Resolver:
    """Async, caching, concurrency-bounded DNS client for one run.

    ``timeout`` is per attempt; a failed attempt (timeout, SERVFAIL, network error) is retried
    ``retries`` times on the next nameserver, so a dead server costs at most
    ``timeout * (retries + 1)`` per lookup. Once a nameserver has timed out repeatedly and
    sent nothing for ``2 * timeout``, attempts on it fail at once as "timeout" (one probe per
    ``timeout`` still goes out in the background; any answer revives it), so lookups queued
    behind it do not each wait out the timeout. Sockets close by themselves when idle;
    ``aclose()`` (or ``async with``) closes any left open.
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
        self._limit = _Slots(concurrency)
        self._cache: dict[tuple[str, str], asyncio.Future[Answer]] = {}
        self._servers: dict[Nameserver, Server] = {}

    async def query(self, name: str, rtype: str) -> Answer:
        """Look ``name`` up once per run; concurrent callers share the query in flight."""
        key = (normalize_name(name), rtype.upper())
        future = self._cache.get(key)
        if future is not None:
            self.stats.cache_hits += 1
            if future.done():
                return future.result()
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

    def txt(self, name: str) -> Coroutine[Any, Any, Answer]:
        """``query(name, "TXT")`` (the same awaitable, without a coroutine frame of its own)."""
        return self.query(name, "TXT")

    async def addresses(self, name: str) -> tuple[Answer, Answer]:
        """A and AAAA of ``name``, looked up concurrently."""
        a, aaaa = await asyncio.gather(self.query(name, "A"), self.query(name, "AAAA"))
        return a, aaaa

    async def ptr(self, address: str) -> Answer:
        return await self.query(dns.reversename.from_address(address).to_text(), "PTR")

    async def aclose(self) -> None:
        """Close the UDP sockets still open (they also close by themselves when idle).

        The resolver stays usable: sockets are opened again on the next query.
        """
        for server in self._servers.values():
            await server.aclose()

    async def __aenter__(self) -> Resolver:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _resolve(self, name: str, rtype: str) -> Answer:
        """Query, following CNAMEs across responses (authoritative servers stop at their zone)."""
        chain: list[str] = []
        current = name
        for _ in range(MAX_CNAME_HOPS):
            reply, error = await self._exchange(current, rtype)
            if reply is None:
                status: Status = error[0]
                return Answer(name, rtype, status, cnames=tuple(chain), error=error[1])
            rcode = reply.rcode
            records: list[str] = []
            target: str | None = None
            if reply.answers:
                records, target, chain_part = _extract(reply.answers, current, rtype)
                chain.extend(chain_part)
            if records:
                return Answer(name, rtype, "ok", tuple(records), tuple(chain))
            if rcode == dns.rcode.NXDOMAIN:
                return Answer(name, rtype, "nxdomain", cnames=tuple(chain))
            if rcode != dns.rcode.NOERROR:
                return Answer(
                    name,
                    rtype,
                    "error",
                    cnames=tuple(chain),
                    error=dns.rcode.to_text(dns.rcode.Rcode.make(rcode)),
                )
            if target is None or target == current:
                return Answer(name, rtype, "nodata", cnames=tuple(chain))
            if target in chain[:-1] or target == name:
                return Answer(name, rtype, "error", cnames=tuple(chain), error="CNAME loop")
            current = target
        return Answer(name, rtype, "error", cnames=tuple(chain), error="CNAME chain too long")

    def _order(self) -> list[Server]:
        """The servers for each attempt: rotating from a random start, responsive ones first."""
        count = len(self.nameservers)
        start = random.randrange(count)  # noqa: S311 - load spreading, not crypto
        order = []
        for attempt in range(self.retries + 1):
            ns = self.nameservers[(start + attempt) % count]
            server = self._servers.get(ns)
            if server is None:
                server = self._servers[ns] = Server(ns.host, ns.port, self.timeout)
            order.append(server)
        if count > 1:
            order.sort(key=Server.down)  # stable: responsive servers first, in rotation
        return order

    async def _exchange(self, name: str, rtype: str) -> tuple[Reply | None, tuple[Status, str]]:
        """The first usable reply over the attempts, or None and the last failure."""
        try:
            rdtype = _rdtype(rtype)
            question = question_wire(name, rdtype)
        except (dns.exception.DNSException, ValueError) as exc:
            return None, ("error", f"invalid name: {exc}")
        last: tuple[Status, str] = ("error", "no nameserver")
        sent = 0
        for server in self._order():
            # Checked before and after waiting for a slot: a dead server must not hold slots.
            reason = server.unresponsive()
            if reason is None:
                if not self._limit.take():
                    await self._limit.wait()
                try:
                    reason = server.unresponsive()
                    if reason is None:
                        if sent:
                            self.stats.retries += 1
                        sent += 1
                        self.stats.queries += 1
                        try:
                            reply = await server.exchange(name, rdtype, question)
                        except TimeoutError:
                            waited = f"no answer from {_label(server)} in {self.timeout:g}s"
                            last = ("timeout", waited)
                        except (OSError, EOFError, dns.exception.DNSException) as exc:
                            text = f"{_label(server)}: {exc.__class__.__name__}: {exc}"
                            last = ("error", text.rstrip(": "))
                        else:
                            self.stats.tcp_fallbacks += reply.tcp
                            if reply.rcode not in _RETRIED_RCODES:
                                return reply, last
                            last = _RETRIED_RCODES[reply.rcode](_label(server))
                        continue
                finally:
                    self._limit.release()
            self.stats.skipped += 1
            if server.probe(name, rdtype, question):
                self.stats.queries += 1
            last = ("timeout", f"{_label(server)}: {reason}")
        self.stats.failures[last[0]] = self.stats.failures.get(last[0], 0) + 1
        return None, last


def _label(server: Server) -> str:
    return str(Nameserver(server.host, server.port))


def _extract(answers: Answers, name: str, rtype: str) -> tuple[list[str], str | None, list[str]]:
    """Records of ``rtype`` at the end of the CNAME chain from ``name``, the chain's last target."""
    wanted = _rdtype(rtype)
    chain: list[str] = []
    current = name
    for _ in range(MAX_CNAME_HOPS):
        records = answers.get((current, wanted))
        if records:
            return records, current, chain
        targets = answers.get((current, dns.rdatatype.CNAME))
        if not targets or wanted == dns.rdatatype.CNAME:
            break
        current = targets[0]
        if current in chain:
            break
        chain.append(current)
    return [], (current if chain else None), chain


def _rdtype(rtype: str) -> dns.rdatatype.RdataType:
    known = _RDTYPES.get(rtype)
    if known is None:
        known = _RDTYPES[rtype] = dns.rdatatype.from_text(rtype)
    return known


_RDTYPES: dict[str, dns.rdatatype.RdataType] = {}
# RCODEs that fail an attempt (and are retried on the next nameserver), with their text.
_RETRIED_RCODES: dict[int, Callable[[str], tuple[Status, str]]] = {
    dns.rcode.SERVFAIL: lambda server: ("servfail", f"SERVFAIL from {server}"),
    dns.rcode.REFUSED: lambda server: ("refused", f"REFUSED by {server}"),
}


class _Slots:
    """A FIFO counting limiter for queries in flight: ``take()`` or ``await wait()``, then
    ``release()``.

    asyncio.Semaphore rescans its queue of waiters on every release, which under a burst of
    thousands of waiting lookups cost more CPU than the lookups themselves.
    """

    def __init__(self, count: int) -> None:
        self._free = count
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    def take(self) -> bool:
        """Take a slot if one is free and nobody queues for it."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return True
        return False

    async def wait(self) -> None:
        """Queue for a slot."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was handed over as we were cancelled: pass it on
            raise

    def release(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():  # skip waiters cancelled while queued
                waiter.set_result(None)
                return
        self._free += 1


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
