"""A real authoritative DNS server on 127.0.0.1 for tests and benchmarks.

It answers UDP and TCP from zone files (``tests/zones/*.zone``, origin = file name without
``.zone``) and from records added in code, follows CNAMEs across its zones like an
authoritative server, answers wildcards, truncates UDP answers larger than the client's EDNS
size (so clients must fall back to TCP), and can hold each UDP answer back (``delay``) to act
like a resolver across the internet. Names can be made to misbehave::

    server.behave("timeout.test", "drop")       # never answers: clients time out
    server.behave("broken.test", "servfail")    # SERVFAIL for the name and everything below it
    server.behave("closed.test", "refused")

Run standalone for benchmarks: ``python tests/servers/dnsserver.py --port 5300 --delay-ms 20
ZONEFILE...``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import NamedTuple

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.zone

ZONES_DIR = Path(__file__).resolve().parent.parent / "zones"
Key = tuple[dns.name.Name, int]


class _RRsetWire(NamedTuple):
    rrset: dns.rrset.RRset
    tails: tuple[bytes, ...]
    target_text: str
    target_wire: bytes


class ZoneData:
    """All records the server holds, indexed by (owner, type)."""

    def __init__(self) -> None:
        self.rrsets: dict[Key, dns.rrset.RRset] = {}
        self.names: set[dns.name.Name] = set()
        self.origins: set[dns.name.Name] = set()
        # The same, by lower-case text (see _text), for answering without dnspython.
        self.rrsets_by_text: dict[tuple[str, int], dns.rrset.RRset] = {}
        self.names_by_text: set[str] = set()
        self._wire: dict[int, _RRsetWire] = {}  # by id() of a stored rrset, see wire()

    def load_file(self, path: Path, origin: str | None = None) -> None:
        origin_name = dns.name.from_text(origin or path.name.removesuffix(".zone"))
        zone = dns.zone.from_file(
            str(path), origin=origin_name, relativize=False, check_origin=False
        )
        self.origins.add(origin_name)
        for name, node in zone.nodes.items():
            for rdataset in node.rdatasets:
                rrset = dns.rrset.RRset(name, rdataset.rdclass, rdataset.rdtype)
                rrset.update(rdataset)
                rrset.ttl = rdataset.ttl
                self._put(rrset)

    def add(self, name: str, rtype: str, *values: str, ttl: int = 300) -> None:
        owner = dns.name.from_text(name)
        rdtype = dns.rdatatype.from_text(rtype)
        rrset = self.rrsets.get((owner, rdtype)) or dns.rrset.RRset(
            owner, dns.rdataclass.IN, rdtype
        )
        rrset.ttl = ttl
        for value in values:
            rrset.add(
                dns.rdata.from_text(
                    dns.rdataclass.IN, rdtype, value, origin=dns.name.root, relativize=False
                )
            )
        self._put(rrset)

    def add_zone(self, origin: str) -> None:
        self.origins.add(dns.name.from_text(origin))

    def _put(self, rrset: dns.rrset.RRset) -> None:
        self.rrsets[(rrset.name, rrset.rdtype)] = rrset
        self.rrsets_by_text[(_text(rrset.name), rrset.rdtype)] = rrset
        name = rrset.name
        while True:  # every ancestor exists (empty non-terminals answer NODATA, not NXDOMAIN)
            self.names.add(name)
            self.names_by_text.add(_text(name))
            if len(name) <= 1:
                break
            name = name.parent()

    def wire(self, rrset: dns.rrset.RRset) -> _RRsetWire:
        """A stored rrset's RRs in wire form without their owner (TYPE, CLASS, TTL, RDATA),
        and for a CNAME its target as text and wire. Names in RDATA are not compressed."""
        cached = self._wire.get(id(rrset))
        if cached is None or cached.rrset is not rrset:
            tails = tuple(
                struct.pack("!HHIH", rrset.rdtype, rrset.rdclass, rrset.ttl, len(rd)) + rd
                for rd in (rdata.to_wire() for rdata in rrset)
            )
            target = rrset[0].target if rrset.rdtype == dns.rdatatype.CNAME else dns.name.root
            cached = _RRsetWire(rrset, tails, _text(target), target.to_wire() or b"")
            self._wire[id(rrset)] = cached  # holds the rrset: its id() is not reused
        return cached

    def find(self, qname: dns.name.Name, rdtype: int) -> tuple[dns.rrset.RRset | None, bool]:
        """The rrset for qname (wildcards expanded) and whether the name exists."""
        source, exists = self.lookup(qname, rdtype)
        if source is None or source.name == qname:
            return source, exists
        expanded = dns.rrset.RRset(qname, source.rdclass, source.rdtype)
        expanded.update(source)
        expanded.ttl = source.ttl
        return expanded, True

    def lookup(self, qname: dns.name.Name, rdtype: int) -> tuple[dns.rrset.RRset | None, bool]:
        """Like :meth:`find`, but a wildcard match is returned as the stored ``*`` rrset."""
        rrset = self.rrsets.get((qname, rdtype))
        if rrset is not None or qname in self.names:
            return rrset, qname in self.names
        name = qname
        while len(name) > 1:
            name = name.parent()
            wildcard = dns.name.Name(("*", *name.labels))
            if (wildcard, rdtype) in self.rrsets or wildcard in self.names:
                return self.rrsets.get((wildcard, rdtype)), True
            if name in self.names:
                break
        return None, False

    def lookup_text(self, qname: str, rdtype: int) -> tuple[dns.rrset.RRset | None, bool]:
        """:meth:`lookup` by lower-case text (see _text): no dnspython names, much faster."""
        rrset = self.rrsets_by_text.get((qname, rdtype))
        exists = qname in self.names_by_text
        if rrset is not None or exists:
            return rrset, exists
        name = qname
        while name:
            name = name.partition(".")[2]
            wildcard = f"*.{name}" if name else "*"
            if (wildcard, rdtype) in self.rrsets_by_text or wildcard in self.names_by_text:
                return self.rrsets_by_text.get((wildcard, rdtype)), True
            if name in self.names_by_text:
                break
        return None, False


class DNSServer:
    """Serve :class:`ZoneData` on 127.0.0.1 over UDP and TCP from a background thread."""

    def __init__(
        self,
        data: ZoneData | None = None,
        *,
        delay: float = 0.0,
        port: int = 0,
        lockstep: float = 0.0,
    ) -> None:
        """``lockstep``: hold UDP answers until no query has come for that many seconds, then
        send them all; ``round_trips`` then counts the client's sequential waves of queries,
        which tests assert on instead of timing the client."""
        self.data = data or ZoneData()
        self.delay = delay
        self.port = port
        self.lockstep = lockstep
        self.round_trips = 0
        self._held: list[tuple[bytes, tuple[str, int]]] = []
        self._flush: asyncio.TimerHandle | None = None
        self.behaviours: dict[dns.name.Name, str] = {}
        self.queries: list[tuple[str, str, str]] = []  # (name, type, transport), for assertions
        self._behaviours_by_text: dict[str, str] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._closers: list[asyncio.BaseTransport | asyncio.AbstractServer] = []

    def behave(self, name: str, behaviour: str) -> None:
        assert behaviour in {"drop", "servfail", "refused", "answer"}
        self.behaviours[dns.name.from_text(name)] = behaviour
        self._behaviours_by_text[_text(dns.name.from_text(name))] = behaviour

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    # -- answering -------------------------------------------------------------------------
    def respond(self, wire: bytes, transport: str) -> bytes | None:
        """The answer to one query message, or None to send nothing.

        A plain query (one question of ordinary labels, class IN, at most a bare EDNS OPT) is
        answered from bytes: its header and question are copied, the RRs come from wire
        cached per rrset. That is the message dnspython builds (:meth:`_respond`, used for
        everything else and for answers too big for the client), except that names in RDATA
        are not compressed; it is a hundred times cheaper, so the benchmark measures the
        clients rather than this server.
        """
        plain = _plain_query(wire)
        if plain is None:
            return self._respond(wire, transport)
        labels, rdtype, end, payload = plain
        qname = b".".join(labels).decode("ascii").lower()
        self.queries.append((qname, _type_text(rdtype), transport))
        behaviour = self._behaviour_text(qname)
        if behaviour == "drop":
            return None
        rcode, count, records = _RCODES[behaviour], 0, b""
        if behaviour == "answer":
            rcode, count, records = self._records(qname, rdtype)
        flags = 0x8400 | (wire[2] << 8 & 0x0100) | rcode  # QR, AA, RD copied (RFC 1035 §4.1.1)
        opt = _RESPONSE_OPT if payload >= 0 else b""
        question = wire[12 : end + 4]
        reply = struct.pack("!HHHHHH", 0, flags, 1, count, 0, len(opt) and 1) + question
        reply = wire[:2] + reply[2:] + records + opt
        limit = 65535 if transport == "tcp" else max(512, payload) if payload >= 0 else 512
        if len(reply) > limit:  # rare: dnspython compresses names in RDATA and truncates (TC)
            return self._respond(wire, transport, log=False)
        return reply

    def _records(self, qname: str, rdtype: int) -> tuple[int, int, bytes]:
        """RCODE, RR count and answer section for a plain query; mirrors :meth:`_answer`."""
        name, owner, count, parts = qname, _POINTER, 0, []
        for _ in range(8):
            rrset, exists = self.data.lookup_text(name, rdtype)
            if rrset is None and rdtype != dns.rdatatype.CNAME:
                cname, _ = self.data.lookup_text(name, dns.rdatatype.CNAME)
                if cname is not None:
                    cname_wire = self.data.wire(cname)
                    count += len(cname_wire.tails)
                    parts += [owner + tail for tail in cname_wire.tails]
                    name = cname_wire.target_text
                    owner = _POINTER if name == qname else cname_wire.target_wire
                    if self._behaviour_text(name) != "answer":
                        break
                    continue
            if rrset is not None:
                tails = self.data.wire(rrset).tails
                count += len(tails)
                parts += [owner + tail for tail in tails]
            elif not exists:
                return dns.rcode.NXDOMAIN, count, b"".join(parts)
            break
        return dns.rcode.NOERROR, count, b"".join(parts)

    def _behaviour_text(self, name: str) -> str:
        """:meth:`_behaviour` by lower-case text."""
        behaviours = self._behaviours_by_text
        while True:
            if name in behaviours:
                return behaviours[name]
            if not name:
                return "answer"
            name = name.partition(".")[2]

    def _respond(self, wire: bytes, transport: str, *, log: bool = True) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        if not query.question:
            return None
        question = query.question[0]
        qname, rdtype = question.name, question.rdtype
        if log:
            self.queries.append(
                (
                    qname.to_text(omit_final_dot=True).lower(),
                    dns.rdatatype.to_text(rdtype),
                    transport,
                )
            )
        behaviour = self._behaviour(qname)
        if behaviour == "drop":
            return None
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if behaviour == "servfail":
            response.set_rcode(dns.rcode.SERVFAIL)
        elif behaviour == "refused":
            response.set_rcode(dns.rcode.REFUSED)
        else:
            self._answer(response, qname, rdtype)
        limit = 65535
        if transport == "udp":
            limit = max(512, query.payload) if query.edns >= 0 else 512
        try:
            return response.to_wire(max_size=limit)
        except dns.exception.TooBig:
            truncated = dns.message.make_response(query)
            truncated.flags |= dns.flags.TC | dns.flags.AA
            return truncated.to_wire()

    def _behaviour(self, qname: dns.name.Name) -> str:
        name = qname
        while True:
            if name in self.behaviours:
                return self.behaviours[name]
            if len(name) <= 1:
                return "answer"
            name = name.parent()

    def _answer(self, response: dns.message.Message, qname: dns.name.Name, rdtype: int) -> None:
        name = qname
        for _ in range(8):
            rrset, exists = self.data.find(name, rdtype)
            if rrset is not None:
                response.answer.append(rrset)
                return
            if rdtype != dns.rdatatype.CNAME:
                cname, _ = self.data.find(name, dns.rdatatype.CNAME)
                if cname is not None:
                    response.answer.append(cname)
                    name = cname[0].target
                    if self._behaviour(name) != "answer":
                        return
                    continue
            if not exists:
                response.set_rcode(dns.rcode.NXDOMAIN)
            return

    def hold(
        self, transport: asyncio.DatagramTransport, reply: bytes, addr: tuple[str, int]
    ) -> None:
        self._held.append((reply, addr))
        if self._flush is not None:
            self._flush.cancel()

        def flush() -> None:
            self.round_trips += 1
            held, self._held = self._held, []
            for data, to in held:
                transport.sendto(data, to)

        self._flush = asyncio.get_running_loop().call_later(self.lockstep, flush)

    # -- serving ---------------------------------------------------------------------------
    async def serve(self) -> None:
        # UDP and TCP share one port number: when the OS's free UDP port is taken for TCP
        # (other servers on a busy machine), pick another rather than fail the whole session.
        requested = self.port
        for _ in range(20):
            try:
                await self._bind(requested)
                return
            except OSError:
                if requested:
                    raise
        raise OSError("no port free for both UDP and TCP on 127.0.0.1")

    async def _bind(self, port: int) -> None:
        loop = asyncio.get_running_loop()
        server = self
        udp_transport, _ = await loop.create_datagram_endpoint(
            lambda: _UDP(server), local_addr=("127.0.0.1", port)
        )
        chosen = udp_transport.get_extra_info("sockname")[1]
        # Bursts of hundreds of queries (the benchmark) overflow the default receive buffer
        # and the kernel drops them: clients would see timeouts the zones did not cause.
        udp_socket = udp_transport.get_extra_info("socket")
        with contextlib.suppress(OSError):
            udp_socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        try:
            tcp_server = await asyncio.start_server(self._handle_tcp, "127.0.0.1", chosen)
        except OSError:
            udp_transport.close()
            await asyncio.sleep(0)  # let the transport finish closing
            raise
        self.port = chosen
        self._closers = [udp_transport, tcp_server]

    async def _handle_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                header = await reader.readexactly(2)
                wire = await reader.readexactly(struct.unpack("!H", header)[0])
                reply = self.respond(wire, "tcp")
                if reply is None:
                    continue
                writer.write(struct.pack("!H", len(reply)) + reply)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    def start(self) -> DNSServer:
        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self.serve())
            self._ready.set()
            self._loop.run_forever()
            for closer in self._closers:
                closer.close()
            self._loop.run_until_complete(asyncio.sleep(0.01))  # let transports finish closing
            self._loop.close()

        self._thread = threading.Thread(target=run, name="dns-test-server", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self) -> None:
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(10)


class _UDP(asyncio.DatagramProtocol):
    def __init__(self, server: DNSServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = self.server.respond(data, "udp")
        if reply is None or self.transport is None:
            return
        if self.server.lockstep:
            self.server.hold(self.transport, reply, addr)
        elif self.server.delay:
            asyncio.get_running_loop().call_later(
                self.server.delay, self.transport.sendto, reply, addr
            )
        else:
            self.transport.sendto(reply, addr)


# Label bytes dnspython prints as they are (no escapes): the fast path's log text is then
# the same as Name.to_text's.
_PLAIN = bytes(c for c in range(0x21, 0x7F) if c not in b'"().;\\@$')
_TYPE_TEXT: dict[int, str] = {}
_RCODES = {"answer": 0, "servfail": dns.rcode.SERVFAIL, "refused": dns.rcode.REFUSED}
_POINTER = b"\xc0\x0c"  # a compression pointer to the question's name (RFC 1035 §4.1.4)
# OPT of dnspython's make_response: payload 8192, extended RCODE 0, version 0, no flags.
_RESPONSE_OPT = b"\x00" + struct.pack("!HHIH", 41, 8192, 0, 0)
# Meta and obsolete types (ANY, AXFR, OPT, ...) keep dnspython's handling.
_NOT_PLAIN_TYPES = frozenset(range(128, 256)) | {0, dns.rdatatype.OPT}


def _type_text(rdtype: int) -> str:
    text = _TYPE_TEXT.get(rdtype)
    if text is None:
        text = _TYPE_TEXT[rdtype] = dns.rdatatype.to_text(dns.rdatatype.RdataType.make(rdtype))
    return text


def _text(name: dns.name.Name) -> str:
    """An absolute name as lower-case text without the final dot; the root is ""."""
    return "" if len(name) <= 1 else name.to_text(omit_final_dot=True).lower()


def _plain_query(wire: bytes) -> tuple[list[bytes], int, int, int] | None:
    """(labels, QTYPE, end of QNAME, EDNS payload or -1) for a plain query; else None.

    Plain: a QUERY with one class-IN question whose labels dnspython prints without escapes
    (so the ``queries`` log reads the same) and at most a bare OPT (version 0, no options).
    """
    if len(wire) < 17:
        return None
    flags, qdcount, ancount, nscount, arcount = struct.unpack_from("!5H", wire, 2)
    if flags & 0xF800 or qdcount != 1 or ancount or nscount or arcount > 1:
        return None  # a response, an opcode other than QUERY, or more than a question
    labels = []
    position = 12
    while True:
        length = wire[position]
        if length == 0:
            break
        label = wire[position + 1 : position + 1 + length]
        if length > 63 or len(label) != length or label.translate(None, _PLAIN):
            return None
        labels.append(label)
        position += 1 + length
        if position >= len(wire):
            return None
    end = position + 1
    if not labels or end + 4 > len(wire):
        return None
    rdtype, rdclass = struct.unpack_from("!HH", wire, end)
    rest = end + 4
    payload = -1
    if arcount:  # a bare OPT (RFC 6891 §6.1.2): root owner, type 41, version 0, no options
        if len(wire) != rest + 11 or wire[rest] != 0:
            return None
        otype, payload, _, version, _, rdlength = struct.unpack_from("!HHBBHH", wire, rest + 1)
        if otype != 41 or version != 0 or rdlength != 0:
            return None
    elif len(wire) != rest:
        return None
    if rdclass != dns.rdataclass.IN or rdtype in _NOT_PLAIN_TYPES:
        return None
    return labels, rdtype, end, payload


def load_zones(paths: Iterable[Path]) -> ZoneData:
    data = ZoneData()
    for path in paths:
        data.load_file(path)
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("zones", nargs="+", type=Path)
    parser.add_argument("--port", type=int, default=5300)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    args = parser.parse_args()
    server = DNSServer(load_zones(args.zones), delay=args.delay_ms / 1000, port=args.port)

    async def run() -> None:
        await server.serve()
        print(f"serving on {server.address}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(run())


if __name__ == "__main__":
    main()
