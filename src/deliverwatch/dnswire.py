"""DNS messages as bytes: the queries deliverwatch sends and the parts of answers it reads.

Why not dnspython's message objects on this path: building a query with ``make_query`` and
parsing an answer with ``from_wire`` cost 0.3-0.8 ms each, more than everything else a lookup
does. A lookup needs only a question, an RCODE and the answer section's records as text, so
those are read here straight from the wire (RFC 1035 §4.1). Anything unusual (a record type
not listed in :func:`_present`, names with characters that need escaping, a malformed
message) is handed to dnspython, which parses it in full or raises
``dns.exception.DNSException``.
"""

from __future__ import annotations

import struct
from typing import Final

import dns.ipv6
import dns.message
import dns.name
import dns.rdatatype

#: Records of an answer section as presentation text, by (owner, type), in section order.
#: Owners are lower-case without the trailing dot (the root is ""); TXT strings of one record
#: are joined (RFC 7208 §3.3, RFC 6376 §3.6.2.2); MX reads ``"10 mx.example.com"``.
Answers = dict[tuple[str, int], list[str]]

EDNS_PAYLOAD: Final = 1232  # the DNS flag day 2020 size: no fragmentation, TC above it

# Header after the ID: RD set, one question, one additional record (the OPT).
_HEADER_TAIL: Final = struct.pack("!HHHHH", 0x0100, 1, 0, 0, 1)
# EDNS(0) OPT pseudo-record (RFC 6891 §6.1.2): root owner, type 41, class = UDP payload size,
# extended RCODE 0, version 0, DO clear, no options.
_OPT: Final = b"\x00" + struct.pack("!HHIH", 41, EDNS_PAYLOAD, 0, 0)
# Label bytes that dnspython's Name.to_text prints as they are; others are escaped there.
_PLAIN: Final = bytes(c for c in range(0x21, 0x7F) if c not in b'"().;\\@$')
_NAME_TYPES: Final = frozenset({2, 5, 12, 39})  # NS, CNAME, PTR, DNAME: one name of RDATA


class _Unusual(Exception):
    """Not handled here: dnspython decides."""


def question_wire(name: str, rdtype: int) -> bytes:
    """QNAME, QTYPE and QCLASS IN in wire form, the name lower-cased (RFC 1035 §4.1.2).

    Plain ASCII names are encoded directly; anything else (escapes, IDNA) goes through
    dnspython, which raises ``dns.exception.DNSException`` or ``ValueError`` for bad names.
    """
    tail = struct.pack("!HH", rdtype, 1)
    if name.isascii() and "\\" not in name:
        raw = name.lower().encode("ascii")
        labels = raw.split(b".") if raw else []
        if labels and len(raw) < 254 and all(0 < len(label) < 64 for label in labels):
            return b"".join(bytes((len(label),)) + label for label in labels) + b"\x00" + tail
    wire = dns.name.from_text(name).canonicalize().to_wire()
    assert wire is not None
    return wire + tail


def query_wire(qid: int, question: bytes) -> bytes:
    """A recursive query for ``question`` with EDNS(0) and a 1232-byte payload."""
    return struct.pack("!H", qid) + _HEADER_TAIL + question + _OPT


def parse_reply(wire: bytes) -> tuple[int, Answers]:
    """The RCODE (with EDNS extended bits, RFC 6891 §6.1.3) and the answer records."""
    try:
        return _scan(wire)
    except (_Unusual, IndexError, struct.error, UnicodeDecodeError):
        message = dns.message.from_wire(wire)  # parses it after all, or raises
        return message.rcode(), message_answers(message)


def message_answers(message: dns.message.Message) -> Answers:
    """:data:`Answers` of a message dnspython parsed (the TCP path and unusual answers)."""
    answers: Answers = {}
    for rrset in message.answer:
        owner = rrset.name.to_text(omit_final_dot=True).lower() if len(rrset.name) > 1 else ""
        answers.setdefault((owner, rrset.rdtype), []).extend(_present_rdata(rd) for rd in rrset)
    return answers


def _scan(wire: bytes) -> tuple[int, Answers]:
    flags, qdcount, ancount, nscount, arcount = struct.unpack_from("!5H", wire, 2)
    position = 12
    for _ in range(qdcount):
        position = _skip_name(wire, position) + 4
    answers: Answers = {}
    seen: set[tuple[str, int, bytes | str]] = set()
    for _ in range(ancount):
        owner, position = _read_name(wire, position)
        rdtype, rdclass, _, length = struct.unpack_from("!HHIH", wire, position)
        start = position + 10
        position = start + length
        if rdclass != 1 or position > len(wire):
            raise _Unusual
        text, identity = _present(wire, start, position, rdtype)
        # dnspython keeps one of identical records (an rdataset is a set); so do we.
        if (owner, rdtype, identity) not in seen:
            seen.add((owner, rdtype, identity))
            answers.setdefault((owner, rdtype), []).append(text)
    rcode = flags & 0xF
    for index in range(nscount + arcount):
        position = _skip_name(wire, position)
        rdtype, _, ttl, length = struct.unpack_from("!HHIH", wire, position)
        position += 10 + length
        if rdtype == 41 and index >= nscount:  # OPT: the upper 8 bits of a 12-bit RCODE
            rcode |= (ttl >> 24) << 4
    if position != len(wire):
        raise _Unusual  # truncated or trailing junk: let dnspython say what is wrong
    return rcode, answers


def _present(wire: bytes, start: int, end: int, rdtype: int) -> tuple[str, bytes | str]:
    """Presentation text of one record, and what makes two records the same."""
    rdata = wire[start:end]
    if rdtype == 16 or rdtype == 99:  # TXT, SPF: <character-string>s (RFC 1035 §3.3.14)
        strings = []
        position = 0
        while position < len(rdata):
            size = rdata[position]
            strings.append(rdata[position + 1 : position + 1 + size])
            position += 1 + size
        if not strings or position != len(rdata):
            raise _Unusual
        return b"".join(strings).decode("utf-8", errors="replace"), rdata
    if rdtype == 1 and len(rdata) == 4:
        return f"{rdata[0]}.{rdata[1]}.{rdata[2]}.{rdata[3]}", rdata
    if rdtype == 28 and len(rdata) == 16:
        return dns.ipv6.inet_ntoa(rdata), rdata
    if rdtype == 15 and len(rdata) > 2:  # MX: preference, exchange
        exchange, position = _read_name(wire, start + 2)
        if position != end:
            raise _Unusual
        text = f"{(rdata[0] << 8) | rdata[1]} {exchange}"
        return text, text
    if rdtype in _NAME_TYPES:
        target, position = _read_name(wire, start)
        if position != end:
            raise _Unusual
        return target, target
    raise _Unusual


def _read_name(wire: bytes, position: int) -> tuple[str, int]:
    """A (possibly compressed) name as lower-case text without the final dot, and the offset
    after it (RFC 1035 §4.1.4). Pointers must point backwards, as dnspython requires."""
    labels: list[bytes] = []
    end = -1
    limit = position
    total = 1
    while True:
        length = wire[position]
        if length >= 0xC0:
            target = ((length & 0x3F) << 8) | wire[position + 1]
            if target >= limit:
                raise _Unusual  # a pointer loop or forward: dnspython raises BadPointer
            if end < 0:
                end = position + 2
            position = limit = target
            continue
        if length > 63:
            raise _Unusual  # extended label types (RFC 6891 §5)
        if length == 0:
            if total > 255 or b"".join(labels).translate(None, _PLAIN):
                raise _Unusual  # too long, or would be escaped in text: dnspython does that
            text = b".".join(labels).lower().decode("ascii")
            return text, (end if end >= 0 else position + 1)
        label = wire[position + 1 : position + 1 + length]
        if len(label) != length:
            raise _Unusual
        labels.append(label)
        total += length + 1
        position += length + 1


def _skip_name(wire: bytes, position: int) -> int:
    while True:
        length = wire[position]
        if length >= 0xC0:
            return position + 2
        if length > 63:
            raise _Unusual
        if length == 0:
            return position + 1
        position += length + 1


def _present_rdata(rdata: object) -> str:
    strings = getattr(rdata, "strings", None)
    if strings is not None:  # TXT/SPF: one record's character-strings are joined
        return b"".join(strings).decode("utf-8", errors="replace")
    exchange = getattr(rdata, "exchange", None)
    if exchange is not None:
        return f"{rdata.preference} {_name_text(exchange)}"  # type: ignore[attr-defined]
    target = getattr(rdata, "target", None)
    if target is not None and not hasattr(rdata, "priority"):
        return _name_text(target)
    address = getattr(rdata, "address", None)
    if address is not None:
        return str(address)
    return str(rdata.to_text())  # type: ignore[attr-defined]


def _name_text(name: dns.name.Name) -> str:
    return name.to_text(omit_final_dot=True).lower() if len(name) > 1 else ""


__all__ = ["EDNS_PAYLOAD", "Answers", "message_answers", "parse_reply", "query_wire"]
