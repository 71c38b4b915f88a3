"""The DNS seam against a real server: statuses, CNAMEs, truncation, retries, cache, the
UDP transport (ID and question matching, socket pool), dead-nameserver handling, and the
wire reader against dnspython."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable

import dns.message
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deliverwatch.dns import Nameserver, Resolver
from deliverwatch.dnswire import message_answers, parse_reply, query_wire, question_wire
from tests.conftest import MISBEHAVING
from tests.servers.dnsserver import ZONES_DIR, DNSServer, load_zones

IN, TXT, MX = dns.rdataclass.IN, dns.rdatatype.TXT, dns.rdatatype.MX


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


# -- a scripted nameserver: a bound UDP socket whose replies each test decides ---------------
Reply = Callable[[dns.message.Message], list[bytes]]


class Scripted(asyncio.DatagramProtocol):
    """Counts datagrams and their source ports; ``reply`` (None: stay silent) answers."""

    def __init__(self) -> None:
        self.reply: Reply | None = None
        self.datagrams = 0
        self.ports: set[int] = set()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.datagrams += 1
        self.ports.add(addr[1])
        if self.reply is not None and self.transport is not None:
            for wire in self.reply(dns.message.from_wire(data)):
                self.transport.sendto(wire, addr)


@pytest.fixture
async def scripted() -> AsyncIterator[tuple[Scripted, str]]:
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(Scripted, local_addr=("127.0.0.1", 0))
    sock = transport.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)  # count every datagram
    try:
        yield protocol, f"127.0.0.1:{transport.get_extra_info('sockname')[1]}"
    finally:
        transport.close()


def nxdomain(query: dns.message.Message) -> list[bytes]:
    response = dns.message.make_response(query)
    response.set_rcode(dns.rcode.NXDOMAIN)
    return [response.to_wire()]


def txt_reply(query: dns.message.Message, text: str, *, qname: str | None = None) -> bytes:
    response = dns.message.make_response(query)
    if qname is not None:
        response.question = [dns.rrset.RRset(dns.name.from_text(qname), IN, TXT)]
    owner = response.question[0].name
    response.answer.append(dns.rrset.from_text(owner, 60, "IN", "TXT", f'"{text}"'))
    return response.to_wire()


async def test_answers_must_match_id_and_question(scripted: tuple[Scripted, str]) -> None:
    """Wrong question, wrong ID or not a response: ignored; the genuine answer is taken."""
    server, address = scripted

    def reply(query: dns.message.Message) -> list[bytes]:
        wrong_id = dns.message.from_wire(txt_reply(query, "wrong id"))
        wrong_id.id ^= 1
        not_response = dns.message.from_wire(txt_reply(query, "not a response"))
        not_response.flags &= ~dns.flags.QR
        return [
            txt_reply(query, "other question", qname="other.example"),
            wrong_id.to_wire(),
            not_response.to_wire(),
            txt_reply(query, "genuine"),
        ]

    server.reply = reply
    async with Resolver([address], timeout=2.0) as resolver:
        answer = await resolver.txt("Mixed.Case.Example")
    assert answer.records == ("genuine",)


async def test_sockets_are_pooled_and_closed(scripted: tuple[Scripted, str]) -> None:
    """A burst shares a few sockets (more than one source port), all closed once idle."""
    server, address = scripted
    server.reply = nxdomain
    resolver = Resolver([address], timeout=2.0)
    answers = await asyncio.gather(*(resolver.txt(f"n{i}.example") for i in range(200)))
    assert {a.status for a in answers} == {"nxdomain"}
    assert server.datagrams == 200
    assert 1 < len(server.ports) <= 8
    assert all(not s.sockets for s in resolver._servers.values())  # idle: nothing left open


def test_resolver_made_outside_a_loop_serves_several_loops(dns_server: DNSServer) -> None:
    resolver = Resolver([dns_server.address], timeout=1.0)
    first = asyncio.run(resolver.txt("alias.dnstest.test"))
    second = asyncio.run(resolver.query("dnstest.test", "MX"))
    assert first.records == ("hello world",)
    assert second.records == ("10 mail.dnstest.test",)


async def test_connection_refused_is_an_error_not_a_timeout() -> None:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()  # nothing listens there now: the kernel answers ICMP port unreachable
    resolver = Resolver([f"127.0.0.1:{port}"], timeout=5.0)
    started = time.monotonic()
    answer = await resolver.txt("example.com")
    assert answer.status == "error"
    assert time.monotonic() - started < 4.0  # not a timeout


# -- a nameserver that stopped answering ---------------------------------------------------
async def test_dead_nameserver_fails_fast_after_two_timeouts(
    scripted: tuple[Scripted, str],
) -> None:
    """400 attempts (200 lookups, one retry each) queue behind 16 slots: without server
    health that is 25 waves of 0.2 s. Once no answer has come for 2 x timeout, the rest fail
    at once, with one probe per timeout still sent."""
    server, address = scripted
    resolver = Resolver([address], timeout=0.2, retries=1, concurrency=16)
    started = time.monotonic()
    answers = await asyncio.gather(*(resolver.txt(f"n{i}.example") for i in range(200)))
    elapsed = time.monotonic() - started
    assert {a.status for a in answers} == {"timeout"}
    assert any("unresponsive" in a.error for a in answers)
    assert server.datagrams == resolver.stats.queries
    assert server.datagrams <= 16 * 4 + 10  # about two waves and a few probes, not 400
    assert resolver.stats.skipped >= 400 - server.datagrams
    assert elapsed < 3.0  # a safety net only; 25 waves would take 5 s


async def test_unresponsive_nameserver_revives_on_any_answer(
    scripted: tuple[Scripted, str],
) -> None:
    server, address = scripted
    resolver = Resolver([address], timeout=0.2, retries=1, concurrency=16)
    await asyncio.gather(*(resolver.txt(f"n{i}.example") for i in range(100)))
    assert resolver.stats.skipped > 0
    server.reply = nxdomain  # it is back
    before = server.datagrams
    # Lookups still fail at once, but one of them sends a probe (at most one per timeout,
    # in the background); its answer revives the server.
    for attempt in range(200):
        answer = await resolver.txt(f"after{attempt}.example")
        if answer.status != "timeout":
            break
        assert "unresponsive" in answer.error
        await asyncio.sleep(0.01)
    assert answer.status == "nxdomain"
    assert server.datagrams - before <= 4  # the probes and the lookup that succeeded
    later = await asyncio.gather(*(resolver.txt(f"m{i}.example") for i in range(50)))
    assert {a.status for a in later} == {"nxdomain"}
    await resolver.aclose()


async def test_silent_zone_on_a_live_server_is_not_a_dead_server(
    dns_server: DNSServer,
) -> None:
    """timeout.test never answers, but other names keep being answered: every lookup of a
    silent name is really sent, with its retry."""
    resolver = Resolver([dns_server.address], timeout=0.2, retries=1)
    done = asyncio.Event()

    async def keep_busy() -> int:
        count = 0
        while not done.is_set() and count < 5000:
            await resolver.txt(f"busy{count}.dnstest.test")
            count += 1
        return count

    busy = asyncio.ensure_future(keep_busy())
    silent = await asyncio.gather(*(resolver.txt(f"s{i}.timeout.test") for i in range(40)))
    done.set()
    assert await busy > 0
    assert {a.status for a in silent} == {"timeout"}
    assert resolver.stats.skipped == 0
    sent = sum(1 for q in dns_server.queries if q[0].endswith(".timeout.test") and q[0][0] == "s")
    assert sent >= 80


# -- the wire reader against dnspython -----------------------------------------------------
_label = st.text(
    alphabet=st.sampled_from('abcXYZ019-_*.\\ @$"\x00\xe9'), min_size=1, max_size=12
).map(lambda t: t.replace(".", "").replace("\\", "") or "x")


@settings(max_examples=100, deadline=None)
@given(
    labels=st.lists(_label, min_size=1, max_size=4),
    strings=st.lists(st.lists(st.binary(max_size=40), min_size=1, max_size=3), max_size=3),
    mx=st.lists(st.tuples(st.integers(0, 65535), st.lists(_label, min_size=1, max_size=3))),
    rcode=st.sampled_from([0, 2, 3, 5]),
)
def test_wire_reader_agrees_with_dnspython(
    labels: list[str],
    strings: list[list[bytes]],
    mx: list[tuple[int, list[str]]],
    rcode: int,
) -> None:
    owner = dns.name.Name([label.encode() for label in labels] + [b""])
    query = dns.message.make_query(owner, "TXT", use_edns=0)
    response = dns.message.make_response(query)
    response.set_rcode(dns.rcode.Rcode.make(rcode))
    if strings:
        txt = dns.rrset.RRset(owner, IN, TXT)
        for parts in strings:
            txt.add(dns.rdata.from_wire(IN, TXT, b"".join(bytes([len(p)]) + p for p in parts), 0,
                                        sum(len(p) + 1 for p in parts)))  # fmt: skip
        response.answer.append(txt)
    if mx:
        rrset = dns.rrset.RRset(owner, IN, MX)
        for preference, host in mx:
            target = dns.name.Name([h.encode() for h in host] + [b""])
            rrset.add(dns.rdata.from_text(IN, MX, f"{preference} {target}"))
        response.answer.append(rrset)
    wire = response.to_wire()
    expected = dns.message.from_wire(wire)
    rcode_read, answers = parse_reply(wire)
    assert rcode_read == expected.rcode()
    assert {k: sorted(v) for k, v in answers.items()} == {
        k: sorted(v) for k, v in message_answers(expected).items()
    }


def test_question_wire_matches_dnspython() -> None:
    for name in ["example.com", "A.B.Example.COM", "_dmarc.x.test", "bücher.example", "a\\.b.c"]:
        expected = dns.message.make_query(name, "TXT", use_edns=0, payload=1232)
        ours = dns.message.from_wire(query_wire(expected.id, question_wire(name, 16)))
        assert ours.question[0].name == expected.question[0].name
        assert (ours.flags, ours.edns, ours.payload) == (expected.flags, 0, 1232)


def test_server_fast_path_gives_dnspythons_answers() -> None:
    """The test server answers plain queries from bytes; the messages must read the same as
    the ones it builds with dnspython (names compared case-insensitively, records unordered:
    dnspython shuffles them and compresses names in RDATA)."""
    server = DNSServer(load_zones(sorted(ZONES_DIR.glob("*.zone"))))  # not started: no sockets
    for name, behaviour in MISBEHAVING.items():
        server.behave(name, behaviour)

    def text(wire: bytes) -> list[str]:
        return sorted(dns.message.from_wire(wire).to_text().lower().splitlines()[1:])

    names = {owner.to_text() for owner, _ in server.data.rrsets}
    names |= {"nope.dnstest.test.", "AlIaS.DnsTest.test.", "a.b.wild.dnstest.test.", "test."}
    names |= {"x.timeout.test.", "x.servfail.test.", "x.refused.test."}
    checked = 0
    for name in sorted(names):
        for rdtype, edns in (("TXT", 0), ("TXT", -1), ("A", 0), ("MX", 0), ("CNAME", 0)):
            wire = dns.message.make_query(name, rdtype, use_edns=edns, payload=1232).to_wire()
            fast = server.respond(wire, "udp")
            slow = server._respond(wire, "udp", log=False)
            assert (fast is None) == (slow is None), (name, rdtype)
            if fast is not None and slow is not None:
                assert text(fast) == text(slow), (name, rdtype, edns)
                checked += 1
    assert checked > 1000


def test_nameserver_parsing() -> None:
    assert Nameserver.parse("127.0.0.1:5300") == Nameserver("127.0.0.1", 5300)
    assert Nameserver.parse("::1") == Nameserver("::1", 53)
    assert Nameserver.parse("[::1]:5353") == Nameserver("::1", 5353)
    with pytest.raises(ValueError):
        Nameserver.parse("dns.example.com")
