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
import struct
import threading
from collections.abc import Iterable
from pathlib import Path

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


class ZoneData:
    """All records the server holds, indexed by (owner, type)."""

    def __init__(self) -> None:
        self.rrsets: dict[Key, dns.rrset.RRset] = {}
        self.names: set[dns.name.Name] = set()
        self.origins: set[dns.name.Name] = set()

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
            rrset.add(dns.rdata.from_text(dns.rdataclass.IN, rdtype, value, origin=dns.name.root))
        self._put(rrset)

    def add_zone(self, origin: str) -> None:
        self.origins.add(dns.name.from_text(origin))

    def _put(self, rrset: dns.rrset.RRset) -> None:
        self.rrsets[(rrset.name, rrset.rdtype)] = rrset
        name = rrset.name
        while True:  # every ancestor exists (empty non-terminals answer NODATA, not NXDOMAIN)
            self.names.add(name)
            if len(name) <= 1:
                break
            name = name.parent()

    def find(self, qname: dns.name.Name, rdtype: int) -> tuple[dns.rrset.RRset | None, bool]:
        """The rrset for qname (wildcards expanded) and whether the name exists."""
        rrset = self.rrsets.get((qname, rdtype))
        if rrset is not None or qname in self.names:
            return rrset, qname in self.names
        name = qname
        while len(name) > 1:
            name = name.parent()
            wildcard = dns.name.Name(("*", *name.labels))
            if (wildcard, rdtype) in self.rrsets or wildcard in self.names:
                source = self.rrsets.get((wildcard, rdtype))
                if source is None:
                    return None, True
                expanded = dns.rrset.RRset(qname, source.rdclass, source.rdtype)
                expanded.update(source)
                expanded.ttl = source.ttl
                return expanded, True
            if name in self.names:
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
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._closers: list[asyncio.BaseTransport | asyncio.AbstractServer] = []

    def behave(self, name: str, behaviour: str) -> None:
        assert behaviour in {"drop", "servfail", "refused", "answer"}
        self.behaviours[dns.name.from_text(name)] = behaviour

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    # -- answering -------------------------------------------------------------------------
    def respond(self, wire: bytes, transport: str) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        question = query.question[0]
        qname, rdtype = question.name, question.rdtype
        self.queries.append(
            (qname.to_text(omit_final_dot=True).lower(), dns.rdatatype.to_text(rdtype), transport)
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
        loop = asyncio.get_running_loop()
        server = self
        udp_transport, _ = await loop.create_datagram_endpoint(
            lambda: _UDP(server), local_addr=("127.0.0.1", self.port)
        )
        self.port = udp_transport.get_extra_info("sockname")[1]
        tcp_server = await asyncio.start_server(self._handle_tcp, "127.0.0.1", self.port)
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
