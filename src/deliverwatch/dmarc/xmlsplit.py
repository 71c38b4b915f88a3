"""Reading an aggregate report document as a stream of top-level elements.

A report is ``<feedback>`` holding a few small elements and up to millions of ``<record>``s.
:class:`XmlSplitter` reads the bytes in chunks and yields each top-level element whole, so
memory is bounded by the largest element, never by the document; each element is then
parsed on its own (``aggregate.py``), with a real XML parser (expat) wherever the record
fast path does not apply.

Safety: a document type declaration is only legal before the root element, and that is
where this splitter reads: one is refused, so no entity can be declared and none expanded
(the billion-laughs and external-entity attacks), and nothing is ever fetched. Fragments
handed to expat start inside the root element, where expat itself rejects a DTD.

Repairs (counted in ``repairs``): the prologue is read leniently (a bad or misplaced XML
declaration, text or stray start tags such as an ``<xs:schema>`` around ``<feedback>`` are
dropped), stray text between elements is ignored, a missing ``</feedback>`` is tolerated
when every element is complete. A document in another encoding than UTF-8 is converted to
UTF-8 as it is read.
"""

from __future__ import annotations

import codecs
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException  # type: ignore[import-untyped]
from defusedxml.ElementTree import (  # type: ignore[import-untyped]
    fromstring as defused_fromstring,
)

from deliverwatch.dmarc.errors import AggregateError

_CHUNK = 1024 * 1024
#: The largest top-level element (a record is about 1 KB; this is a safety cap).
MAX_ELEMENT = 64 * 1024 * 1024
#: Bytes before ``<feedback>`` that are read looking for it.
MAX_PROLOGUE = 1024 * 1024
_MAX_TAG = 64 * 1024

_NAME = rb"[A-Za-z_][\w.\-]*(?::[A-Za-z_][\w.\-]*)?"
START_TAG = re.compile(
    rb"<(" + _NAME + rb")((?:\s+" + _NAME + rb"\s*=\s*(?:\"[^\"]*\"|'[^']*'))*)\s*(/?)>"
)
_XMLNS = re.compile(rb"""xmlns(?::([\w.\-]+))?\s*=\s*(?:"([^"]*)"|'([^']*)')""")
_DECLARED_ENCODING = re.compile(rb"""^\s*<\?xml[^>]*?encoding\s*=\s*["']([A-Za-z0-9._\-]+)""")
_UTF8 = frozenset({"utf-8", "ascii"})
#: Markup that is not a well-formed start of something: escaped by ``repair_markup``.
_STRAY_LT = re.compile(
    r"<(?!/?[A-Za-z_][\w.:\-]*(?:\s+[A-Za-z_][\w.:\-]*\s*=\s*(?:\"[^\"<]*\"|'[^'<]*'))*\s*/?>"
    r"|!--|!\[CDATA\[|\?)"
)
_STRAY_AMP = re.compile(r"&(?!#\d+;|#x[0-9A-Fa-f]+;|(?:lt|gt|amp|quot|apos);)")
_INVALID_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


@dataclass(slots=True)
class RecordBatch:
    """Consecutive ``<record>`` elements cut from the input in one go: each text is a record
    without its ``</record>``. ``plain`` is True when the whole batch has none of the markup
    the record fast path leaves to expat (then no record needs checking on its own)."""

    texts: list[str]
    plain: bool


#: Characters whose presence sends a record to expat: entities (&), attributes (=),
#: comments, CDATA and DTD bits (!), processing instructions (?).
NOT_PLAIN = ("&", "=", "!", "?", " >", "<reason>")


class _Utf8Reader:
    """Chunks of ``stream`` as UTF-8: a UTF-8 BOM is dropped, other encodings (from the BOM
    or the XML declaration) are converted."""

    def __init__(self, stream: BinaryIO, repairs: Counter[str]) -> None:
        self._stream = stream
        first = stream.read(_CHUNK)
        encoding = "utf-8"
        if first.startswith(b"\xef\xbb\xbf"):
            first = first[3:]
        elif first.startswith((b"\xff\xfe", b"\xfe\xff")):
            encoding = "utf-16"
        else:
            declared = _DECLARED_ENCODING.match(first)
            if declared:
                label = declared.group(1).decode("ascii")
                try:
                    encoding = codecs.lookup(label).name
                except LookupError:
                    repairs[f"unknown encoding {label!r} declared: read as UTF-8"] += 1
                if encoding.startswith(("utf-16", "utf-32")):
                    # The declaration was readable byte by byte, so the text is not UTF-16.
                    repairs[f"ignored the declared encoding {label!r}: read as UTF-8"] += 1
                    encoding = "utf-8"
        self._decoder = (
            None if encoding in _UTF8 else codecs.getincrementaldecoder(encoding)(errors="replace")
        )
        self._first: bytes | None = self._convert(first, final=not first)

    def _convert(self, data: bytes, *, final: bool) -> bytes:
        if self._decoder is None:
            return data
        return self._decoder.decode(data, final).encode("utf-8")

    def read(self, size: int) -> bytes:
        if self._first is not None:
            first, self._first = self._first, None
            if first:
                return first
        while True:
            data = self._stream.read(size)
            converted = self._convert(data, final=not data)
            if converted or not data:
                return converted


class XmlSplitter:
    """The top-level elements of an aggregate report, as ``(local name, element bytes)``.

    After construction (which reads up to the root start tag) ``root_start`` is the root's
    start tag (namespace declarations included), ``namespace`` the root's namespace URI, and
    ``prefixes`` the namespace prefixes the root declares.
    """

    def __init__(self, stream: BinaryIO, repairs: Counter[str]) -> None:
        self.repairs = repairs
        self._reader = _Utf8Reader(stream, repairs)
        self._buffer = b""
        self._eof = False
        self._pos = 0
        self._dropped = 0  # bytes of input before the buffer
        self.root_qname = b""
        self.root_start = b""
        self.namespace: str | None = None
        self.prefixes: tuple[bytes, ...] = ()
        self._read_prologue()

    # -- buffer -------------------------------------------------------------------------
    def _more(self, at_least: int = _CHUNK) -> bool:
        """Append input to the buffer (dropping what was consumed); False at the end."""
        if self._eof:
            return False
        data = self._reader.read(max(at_least, _CHUNK))
        if not data:
            self._eof = True
            return False
        self._dropped += self._pos
        self._buffer = self._buffer[self._pos :] + data
        self._pos = 0
        return True

    def _find(self, needle: bytes, start: int, limit: int) -> int:
        """Index of ``needle`` at or after ``start``, reading more input as needed; -1 at the
        end of input. ``start`` is relative to the consumed position and may shift."""
        offset = start - self._pos
        while True:
            found = self._buffer.find(needle, self._pos + offset)
            if found >= 0:
                return found
            if len(self._buffer) - self._pos > limit:
                raise AggregateError(f"an element is larger than {limit} bytes")
            offset = max(len(self._buffer) - self._pos - len(needle), offset)
            if not self._more(len(self._buffer) - self._pos):
                return -1

    # -- prologue -----------------------------------------------------------------------
    def _read_prologue(self) -> None:
        if not self._more():
            raise AggregateError("empty document")
        while True:
            lt = self._find(b"<", self._pos, MAX_PROLOGUE)
            if lt < 0:
                if self._buffer[self._pos :].strip():
                    raise AggregateError("not an aggregate report: no <feedback> element")
                raise AggregateError("empty document")
            if self._buffer[self._pos : lt].strip():
                self.repairs["ignored text before <feedback>"] += 1
            self._pos = lt
            head = self._buffer[lt : lt + 9]
            if head.startswith(b"<?"):
                self._skip_past(b"?>", "a processing instruction")
            elif head.startswith(b"<!--"):
                self._skip_past(b"-->", "a comment")
            elif head.upper() == b"<!DOCTYPE":
                raise AggregateError(
                    "refused: a document type declaration (DTD); reports never need one "
                    "and entity expansion is off"
                )
            else:
                tag = self._start_tag()
                if tag is None:
                    self.repairs["ignored a stray '<' before <feedback>"] += 1
                    self._pos += 1
                    continue
                qname, attributes, self_closing, length = tag
                if qname.rpartition(b":")[2] != b"feedback":
                    name = qname.decode("ascii")
                    self.repairs[f"ignored a stray <{name}> tag before <feedback>"] += 1
                    self._pos += length
                    continue
                if self_closing:
                    raise AggregateError("empty report: <feedback/>")
                self._set_root(qname, attributes, self._buffer[self._pos : self._pos + length])
                self._pos += length
                return

    def _skip_past(self, needle: bytes, what: str) -> None:
        """Consume up to and including the next ``needle``."""
        end = self._find(needle, self._pos + 1, MAX_ELEMENT)
        if end < 0:
            raise AggregateError(f"truncated document: it ends inside {what}")
        self._pos = end + len(needle)

    def _start_tag(self) -> tuple[bytes, bytes, bool, int] | None:
        """The start tag at the current position: (qualified name, attributes, self-closing,
        length), or None when the ``<`` there does not start a well-formed tag."""
        while True:
            buffer, pos = self._buffer, self._pos
            gt = buffer.find(b">", pos)
            if gt >= 0:
                match = START_TAG.match(buffer, pos)
                if match:
                    return match.group(1), match.group(2), bool(match.group(3)), match.end() - pos
                quotes_open = buffer.count(b'"', pos, gt) % 2 or buffer.count(b"'", pos, gt) % 2
                if not quotes_open or buffer.find(b"<", pos + 1, gt) >= 0:
                    return None  # a complete "<…>" that is not a tag
            if len(buffer) - pos > _MAX_TAG or not self._more(len(buffer) - pos):
                return None

    def _set_root(self, qname: bytes, attributes: bytes, start_tag: bytes) -> None:
        self.root_qname = qname
        self.root_start = start_tag
        prefix = qname.rpartition(b":")[0]
        declared: dict[bytes, str] = {}
        for name, double, single in _XMLNS.findall(attributes):
            declared[name] = (double or single).decode("utf-8", "replace")
        self.namespace = declared.get(prefix) or None
        self.prefixes = tuple(name for name in declared if name)

    # -- elements -----------------------------------------------------------------------
    def __iter__(self) -> Iterator[tuple[str, bytes] | RecordBatch]:
        """Top-level elements as ``(local name, bytes)``, runs of plain records as batches."""
        no_batch_before = 0
        while True:
            lt = self._find(b"<", self._pos, MAX_ELEMENT)
            if lt < 0:
                self._end_without_root_end()
                return
            if lt > self._pos and self._buffer[self._pos : lt].strip():
                self.repairs["ignored stray text between elements"] += 1
            self._pos = lt
            if self._dropped + lt >= no_batch_before and self._buffer.startswith(b"<record>", lt):
                batch = self._batch()
                if batch is not None:
                    yield batch
                    continue
                no_batch_before = self._dropped + self._buffer.rfind(b"</record>")
            second = self._buffer[lt + 1 : lt + 2]
            if second == b"/":
                if self._at_root_end():
                    return
                self.repairs["ignored a stray end tag"] += 1
                self._skip_past(b">", "an end tag")
            elif second == b"?":
                self._skip_past(b"?>", "a processing instruction")
            elif second == b"!":
                if self._buffer.startswith(b"<!--", lt):
                    self._skip_past(b"-->", "a comment")
                else:
                    self.repairs["ignored markup between elements"] += 1
                    self._skip_past(b">", "markup")
            else:
                element = self._element()
                if element is not None:
                    yield element

    def _batch(self) -> RecordBatch | None:
        """Every complete record from the current position to the last ``</record>`` in the
        buffer, when they follow each other with only whitespace between (the usual case);
        None otherwise (they are then read one element at a time)."""
        buffer = self._buffer
        last = buffer.rfind(b"</record>")
        if last < self._pos:
            return None
        region = buffer[self._pos : last]
        try:
            text = region.decode("utf-8")
        except UnicodeDecodeError:
            return None
        texts = text.split("</record>")
        for index in range(1, len(texts)):
            piece = texts[index].lstrip()
            if not piece.startswith("<record>"):
                return None
            texts[index] = piece
        plain = not any(marker in text for marker in NOT_PLAIN) and not any(
            f"<{prefix.decode('ascii')}:" in text for prefix in self.prefixes
        )
        # Well-formed plain records have one end tag per start tag (the last record's
        # </record> is not in the region): anything else is left to expat, record by record.
        plain = plain and text.count("<") == 2 * text.count("</") + 1
        self._pos = last + 9
        return RecordBatch(texts, plain)

    def _element(self) -> tuple[str, bytes] | None:
        """The element starting at the current position, consumed."""
        if self._buffer.startswith(b"<record>", self._pos):  # the common case, no regex
            qname, self_closing, length = b"record", False, 8
        else:
            tag = self._start_tag()
            if tag is None:
                self.repairs["ignored a stray '<' between elements"] += 1
                self._pos += 1
                return None
            qname, _, self_closing, length = tag
        local = qname.rpartition(b":")[2].decode("ascii")
        if self_closing:
            element = self._buffer[self._pos : self._pos + length]
            self._pos += length
            return local, element
        close = b"</" + qname
        search = length  # offsets from the element start, which stays at self._pos
        while True:
            found = self._find(close, self._pos + search, MAX_ELEMENT)
            if found < 0:
                raise AggregateError(f"truncated document: <{local}> is never closed")
            after_name = found + len(close) - self._pos
            end = self._close_end(after_name)
            if end is not None:
                element = self._buffer[self._pos : self._pos + end]
                self._pos += end
                return local, element
            search = after_name

    def _close_end(self, offset: int) -> int | None:
        """Offset after the ``>`` of an end tag whose name ends at ``offset``; None when the
        name goes on (``</recordx>``)."""
        while len(self._buffer) - self._pos < offset + 64 and self._more():
            pass
        start = self._pos + offset
        rest = self._buffer[start : start + 64]
        stripped = rest.lstrip()
        if stripped.startswith(b">"):
            return offset + len(rest) - len(stripped) + 1
        return None

    def _at_root_end(self) -> bool:
        close = b"</" + self.root_qname
        if not self._buffer.startswith(close, self._pos):
            return False
        end = self._close_end(len(close))
        if end is None:
            return False
        self._pos += end
        trailing = self._buffer[self._pos :].strip()
        if not trailing and self._more():
            trailing = self._buffer[self._pos :].strip()
        if trailing:
            self.repairs["ignored data after </feedback>"] += 1
        return True

    def _end_without_root_end(self) -> None:
        if self._buffer[self._pos :].strip():
            raise AggregateError("truncated document: it ends inside an element")
        self.repairs["no </feedback> at the end of the document"] += 1

    # -- fragments ----------------------------------------------------------------------
    def parse_fragment(self, element: bytes) -> Element:
        """``element`` (one top-level element) parsed by expat (through defusedxml, DTDs
        forbidden) in the root's namespace context; stray ``<`` and ``&`` and invalid UTF-8
        repaired when it is not well-formed. Raises AggregateError when even the repaired
        text is not well-formed."""
        try:
            return self._expat(element)
        except ParseError as first:
            text = element.decode("utf-8", "replace")
            if "\ufffd" in text and b"\xef\xbf\xbd" not in element:
                self.repairs["replaced invalid UTF-8"] += 1
            repaired = _STRAY_AMP.sub("&amp;", _STRAY_LT.sub("&lt;", text))
            repaired = _INVALID_XML_CHARS.sub("", repaired)
            if repaired != text:
                self.repairs["escaped stray '<' or '&' (malformed XML)"] += 1
            try:
                return self._expat(repaired.encode("utf-8"))
            except ParseError:
                raise AggregateError(f"malformed XML: {first}") from None
        except DefusedXmlException as exc:
            raise AggregateError(f"refused: {exc}") from None

    def _expat(self, element: bytes) -> Element:
        document = b"".join(
            (
                b"<?xml version='1.0' encoding='utf-8'?>",
                self.root_start,
                element,
                b"</" + self.root_qname + b">",
            )
        )
        root: Element = defused_fromstring(document, forbid_dtd=True)
        if len(root) != 1:
            raise ParseError("expected exactly one element")
        return root[0]
