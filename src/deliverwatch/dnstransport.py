"""The wire under :mod:`deliverwatch.dns`: UDP with long-lived sockets, TCP on truncation.

Why not ``dns.asyncquery.udp`` per query: it creates, registers and closes a socket and an
asyncio transport for every query and builds and parses every message with dnspython's object
model. At thousands of lookups a second that was most of a run's CPU. Here:

* each nameserver gets up to :data:`SOCKETS_PER_SERVER` connected UDP sockets, read straight
  from the event loop's selector. A socket is opened when needed and closed as soon as no
  query is in flight on it, so nothing leaks when a caller never closes the resolver, and
  source ports keep changing from one burst of queries to the next;
* queries carry random 16-bit IDs (from ``os.urandom``); an answer is taken only if its ID is
  pending on that socket and its question (name, type, class) is the one asked (RFC 5452 §9.1).
  Anything else (a late answer to a query that timed out, a spoofing attempt) is ignored;
* queries are built and answers read as bytes (:mod:`deliverwatch.dnswire`);
* a truncated answer (TC) is asked again over TCP with dnspython (RFC 7766 §5);
* a nameserver that has stopped answering altogether is noticed (:meth:`Server.down`), so
  that a dead server costs one timeout per lookup rather than a queue of them.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import socket
import time
from typing import Final, NamedTuple

import dns.asyncquery
import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype

from deliverwatch.dnswire import EDNS_PAYLOAD, Answers, message_answers, parse_reply, query_wire

SOCKETS_PER_SERVER: Final = 8
#: Another socket is opened (up to SOCKETS_PER_SERVER) once the one picked has this many queries.
QUERIES_PER_SOCKET: Final = 16
#: A server is unresponsive after this many timeouts with no answer for ``2 * timeout``.
DOWN_AFTER_TIMEOUTS: Final = 8

_QR: Final = 0x8000
_TC: Final = 0x0200
# Answers that may come without the question section (dnspython's Message.is_response agrees).
_NO_QUESTION_OK: Final = frozenset(
    {dns.rcode.FORMERR, dns.rcode.SERVFAIL, dns.rcode.NOTIMP, dns.rcode.REFUSED}
)


class Reply(NamedTuple):
    """An answer: its RCODE, its answer records as text, and whether it came over TCP."""

    rcode: int
    answers: Answers
    tcp: bool


class _Ids:
    """Unpredictable query IDs, drawn from os.urandom in batches (RFC 5452 §4.3)."""

    def __init__(self) -> None:
        self._buffer = b""
        self._position = 0

    def next(self) -> int:
        if self._position >= len(self._buffer):
            self._buffer = os.urandom(2048)
            self._position = 0
        value = (self._buffer[self._position] << 8) | self._buffer[self._position + 1]
        self._position += 2
        return value


class _Socket:
    """One connected UDP socket with the queries in flight on it, by ID."""

    def __init__(self, server: Server, loop: asyncio.AbstractEventLoop) -> None:
        family = socket.AF_INET6 if ":" in server.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setblocking(False)
            sock.connect((server.host, server.port))
            loop.add_reader(sock.fileno(), self._readable)
        except BaseException:
            sock.close()
            raise
        self.server = server
        self.loop = loop
        self.sock = sock
        self.pending: dict[int, tuple[bytes, asyncio.Future[bytes]]] = {}
        self.closed = False

    def _readable(self) -> None:
        for _ in range(64):  # bounded: one busy socket must not starve the loop
            try:
                data = self.sock.recv(65535)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. ICMP port unreachable on this connected socket
                self.fail(exc)
                return
            self.server.heard()
            self._dispatch(data)

    def _dispatch(self, data: bytes) -> None:
        if len(data) < 12:
            return
        qid = (data[0] << 8) | data[1]
        entry = self.pending.get(qid)
        if entry is None:
            return
        question, future = entry
        flags = (data[2] << 8) | data[3]
        if not flags & _QR or future.done():
            return
        qdcount = (data[4] << 8) | data[5]
        if qdcount == 1:
            got = data[12 : 12 + len(question)]
            if got[:-4].lower() != question[:-4] or got[-4:] != question[-4:]:
                return  # not the question asked: ignore it, keep waiting
        elif not (qdcount == 0 and (flags & 0xF) in _NO_QUESTION_OK):
            return
        del self.pending[qid]
        future.set_result(data)

    def new_id(self) -> int:
        while True:
            qid = self.server.ids.next()
            if qid not in self.pending:
                return qid

    async def send(self, wire: bytes) -> None:
        try:
            self.sock.send(wire)
        except (BlockingIOError, InterruptedError):  # send buffer full: wait for room
            await self.loop.sock_sendall(self.sock, wire)

    def fail(self, exc: BaseException) -> None:
        """Fail every query in flight (the socket's peer refused, or the resolver closes)."""
        pending, self.pending = self.pending, {}
        for _, future in pending.values():
            if not future.done():
                future.set_exception(exc)

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if not self.loop.is_closed():
            self.loop.remove_reader(self.sock.fileno())
        self.sock.close()


class Server:
    """One nameserver: its sockets, its query IDs and whether it still answers at all."""

    def __init__(self, host: str, port: int, timeout: float) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.ids = _Ids()
        self.sockets: list[_Socket] = []
        self._next = 0
        self.timeouts = 0  # timeouts since the last answer
        self.last_heard: float | None = None
        self.first_sent: float | None = None
        self.last_probe = 0.0
        self._probes: set[asyncio.Future[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        # (deadline, answer future) in the order sent, and the one timer for the first.
        self._expiry: collections.deque[tuple[float, asyncio.Future[bytes]]] = collections.deque()
        self._sweeper: asyncio.TimerHandle | None = None

    # -- health --------------------------------------------------------------------------------
    def heard(self) -> None:
        self.last_heard = time.monotonic()
        self.timeouts = 0

    def silence(self, now: float) -> float:
        """Seconds since the server last answered (or since the first query, if never)."""
        since = self.last_heard if self.last_heard is not None else self.first_sent
        return 0.0 if since is None else now - since

    def down(self) -> bool:
        """Many timeouts and no answer of any kind for twice the timeout.

        One slow or silent zone on a server that answers other names does not count.
        """
        return (
            self.timeouts >= DOWN_AFTER_TIMEOUTS
            and self.silence(time.monotonic()) >= 2 * self.timeout
        )

    def unresponsive(self) -> str | None:
        """Why a query should skip this server now (it is down), or None to send it."""
        if not self.down():
            return None
        silence = self.silence(time.monotonic())
        return (
            f"nameserver unresponsive: {self.timeouts} timeouts and no answer for"
            f" {silence:.1f}s; not queried"
        )

    def probe(self, name: str, rdtype: dns.rdatatype.RdataType, question: bytes) -> bool:
        """While down, send ``question`` in the background once per ``timeout``: any answer
        revives the server. No lookup waits for a probe. True if one was sent."""
        now = time.monotonic()
        if now - self.last_probe < self.timeout:
            return False
        self.last_probe = now
        task = asyncio.ensure_future(self._probe(name, rdtype, question))
        self._probes.add(task)
        task.add_done_callback(self._probes.discard)
        return True

    async def _probe(self, name: str, rdtype: dns.rdatatype.RdataType, question: bytes) -> None:
        with contextlib.suppress(TimeoutError, OSError, EOFError, dns.exception.DNSException):
            await self.exchange(name, rdtype, question)

    # -- queries -------------------------------------------------------------------------------
    def _socket(self, loop: asyncio.AbstractEventLoop) -> _Socket:
        """The next open socket round-robin, opening another while all are busy."""
        live = self.sockets
        if live:
            self._next = (self._next + 1) % len(live)
            chosen = live[self._next]
            if len(chosen.pending) < QUERIES_PER_SOCKET or len(live) >= SOCKETS_PER_SERVER:
                return chosen
        fresh = _Socket(self, loop)
        live.append(fresh)
        return fresh

    def _release(self, sock: _Socket) -> None:
        """Close an idle socket: nothing stays open when the resolver is not in use."""
        sock.close()
        with contextlib.suppress(ValueError):
            self.sockets.remove(sock)

    async def exchange(self, name: str, rdtype: dns.rdatatype.RdataType, question: bytes) -> Reply:
        """Ask over UDP, and again over TCP when the UDP answer is truncated.

        Raises TimeoutError when no answer came within ``timeout``, OSError on network errors,
        and ``dns.exception.DNSException`` for answers that do not parse.
        """
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._switch_loop(loop)
        if self.first_sent is None:
            self.first_sent = time.monotonic()
        sock = self._socket(loop)
        qid = sock.new_id()
        future: asyncio.Future[bytes] = loop.create_future()
        entry = (question, future)
        sock.pending[qid] = entry
        self._expiry.append((loop.time() + self.timeout, future))
        if self._sweeper is None:
            self._sweeper = loop.call_at(self._expiry[0][0], self._sweep)
        try:
            await sock.send(query_wire(qid, question))
            wire = await future
        except TimeoutError:
            self.timeouts += 1
            raise
        finally:
            if sock.pending.get(qid) is entry:
                del sock.pending[qid]
            if not sock.pending:
                self._release(sock)
        flags = (wire[2] << 8) | wire[3]
        if flags & _TC:
            query = dns.message.make_query(name, rdtype, use_edns=0, payload=EDNS_PAYLOAD)
            try:
                message = await dns.asyncquery.tcp(
                    query, self.host, timeout=self.timeout, port=self.port
                )
            except dns.exception.Timeout as exc:
                raise TimeoutError from exc
            self.heard()
            return Reply(message.rcode(), message_answers(message), True)
        rcode, answers = parse_reply(wire)
        return Reply(rcode, answers, False)

    def _sweep(self) -> None:
        """Time out the queries whose deadline passed. Every query of a server has the same
        timeout, so deadlines come in the order queries were sent: one timer suffices."""
        assert self._loop is not None
        self._sweeper = None
        expiry = self._expiry
        now = self._loop.time()
        while expiry:
            deadline, future = expiry[0]
            if not future.done():
                if deadline > now:
                    self._sweeper = self._loop.call_at(deadline, self._sweep)
                    return
                future.set_exception(TimeoutError())
            expiry.popleft()

    def _switch_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Forget the sockets and timer of an earlier event loop (a resolver may serve
        several ``asyncio.run`` calls)."""
        for old in self.sockets:
            old.fail(RuntimeError("event loop changed"))
            old.close()
        self.sockets.clear()
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        self._expiry.clear()
        self._loop = loop

    async def aclose(self) -> None:
        for task in list(self._probes):
            task.cancel()
        await asyncio.gather(*self._probes, return_exceptions=True)
        for sock in self.sockets:
            sock.fail(ConnectionAbortedError("resolver closed"))
            sock.close()
        self.sockets.clear()
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        self._expiry.clear()
