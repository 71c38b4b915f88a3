"""The DNS seam against a real server: statuses, CNAMEs, truncation, retries, cache."""

from __future__ import annotations

import asyncio
import time

import pytest

from deliverwatch.dns import Nameserver, Resolver
from tests.servers.dnsserver import DNSServer


async def test_txt_strings_joined_and_cname_followed(resolver: Resolver) -> None:
    answer = await resolver.txt("alias.dnstest.test")
    assert answer.ok
    assert answer.records == ("hello world",)
    assert answer.cnames == ("target.dnstest.test",)


async def test_nxdomain_and_nodata_are_missing_not_failed(resolver: Resolver) -> None:
    nx = await resolver.txt("nope.dnstest.test")
    nodata = await resolver.query("mail.dnstest.test", "TXT")
    empty_non_terminal = await resolver.txt("b.c.dnstest.test")
    assert (nx.status, nodata.status, empty_non_terminal.status) == ("nxdomain", "nodata", "nodata")
    assert nx.missing and not nx.failed


async def test_dangling_cname_is_nxdomain(resolver: Resolver) -> None:
    answer = await resolver.txt("dangling.dnstest.test")
    assert answer.status == "nxdomain"
    assert answer.cnames == ("nowhere.dnstest.test",)


async def test_cname_loop_is_an_error(resolver: Resolver) -> None:
    answer = await resolver.txt("loop1.dnstest.test")
    assert answer.status == "error"
    assert answer.failed


async def test_wildcard(resolver: Resolver) -> None:
    answer = await resolver.txt("anything.wild.dnstest.test")
    assert answer.records == ("wildcard",)


async def test_truncated_answer_falls_back_to_tcp(
    resolver: Resolver, dns_server: DNSServer
) -> None:
    answer = await resolver.txt("big.dnstest.test")
    assert answer.ok
    assert len(answer.records[0]) == 2000
    assert resolver.stats.tcp_fallbacks == 1
    assert ("big.dnstest.test", "TXT", "tcp") in dns_server.queries


@pytest.mark.parametrize(
    ("name", "status"),
    [("x.timeout.test", "timeout"), ("x.servfail.test", "servfail"), ("x.refused.test", "refused")],
)
async def test_failures_are_unknown_and_retried(
    resolver: Resolver, dns_server: DNSServer, name: str, status: str
) -> None:
    before = sum(1 for q in dns_server.queries if q[0] == name)
    answer = await resolver.txt(name)
    assert answer.status == status
    assert answer.failed and not answer.missing
    sent = sum(1 for q in dns_server.queries if q[0] == name) - before
    assert sent == 2  # the first try and one retry


async def test_concurrent_lookups_share_one_query(
    resolver: Resolver, dns_server: DNSServer
) -> None:
    before = sum(1 for q in dns_server.queries if q[0] == "dnstest.test" and q[1] == "MX")
    answers = await asyncio.gather(*(resolver.query("dnstest.test", "MX") for _ in range(50)))
    assert {a.records for a in answers} == {("10 mail.dnstest.test",)}
    assert (
        sum(1 for q in dns_server.queries if q[0] == "dnstest.test" and q[1] == "MX") - before == 1
    )
    assert resolver.stats.cache_hits == 49


async def test_unreachable_nameserver_costs_timeout_plus_one_retry() -> None:
    # a bound UDP socket that never answers: the worst case for a stub resolver
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(
        asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0)
    )
    port = transport.get_extra_info("sockname")[1]
    try:
        resolver = Resolver([f"127.0.0.1:{port}"], timeout=0.2, retries=1)
        started = time.monotonic()
        answer = await resolver.txt("example.com")
        elapsed = time.monotonic() - started
    finally:
        transport.close()
    assert answer.status == "timeout"
    assert elapsed < 0.2 * 2 + 0.3  # two attempts, with slack for a loaded machine


def test_nameserver_parsing() -> None:
    assert Nameserver.parse("127.0.0.1:5300") == Nameserver("127.0.0.1", 5300)
    assert Nameserver.parse("::1") == Nameserver("::1", 53)
    assert Nameserver.parse("[::1]:5353") == Nameserver("::1", 5353)
    with pytest.raises(ValueError):
        Nameserver.parse("dns.example.com")
