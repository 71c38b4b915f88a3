"""Items of big JSON files in bounded memory: arrays, JSON lines, or both mixed.

A saved webhook body is a JSON array (SendGrid, SparkPost, Mailjet "grouped", Mandrill), an
export is often JSON lines (SES through Firehose, Mailgun's events API), and a log of webhook
bodies is JSON lines of arrays. :func:`iter_json_items` reads all three as one sequence of
top-level values, yielding each element of a top-level array as its own item, while holding
at most one item or line (up to ``max_item`` characters) and one read chunk in memory.

>>> import io
>>> data = io.BytesIO(b'[{"a": 1}, {"a": 2}]\\n{"a": 3}')
>>> [value for _, _, value in iter_json_items(iter_chunks(data))]
[{'a': 1}, {'a': 2}, {'a': 3}]
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Iterable, Iterator
from itertools import chain
from typing import IO, Any, Final

import orjson

from deliverwatch.events.providers.base import PayloadError
from deliverwatch.events.providers.jsonfields import mend_surrogates

CHUNK: Final = 1 << 16
MAX_ITEM: Final = 8 << 20  # characters; a bigger item is refused, not buffered
#: Lines up to this many bytes are decoded whole (a webhook body of 500 SendGrid events is
#: about 250 KB); a longer one is read item by item, so memory does not grow with it.
FAST_LINE: Final = 1 << 18
_SPACE: Final = re.compile(r"[ \t\r\n]*")
_NUMBER_TAIL: Final = re.compile(r"[0-9.eE+-]*")
_DECODER: Final = json.JSONDecoder(parse_constant=lambda name: _refuse(name))
# The C scanner JSONDecoder.raw_decode calls (an attribute typeshed does not know).
_SCAN: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]
_SPACES: Final = " \t\r\n"
_CONTAINERS: Final = (dict, list, str)  # what json decodes; anything else is a number or a constant
# Where the reader is: between top-level values, after "[", after ",", after an array item.
_OUTSIDE, _FIRST, _VALUE, _NEXT = range(4)


def _refuse(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def iter_chunks(stream: IO[bytes], size: int = CHUNK) -> Iterator[bytes]:
    while chunk := stream.read(size):
        yield chunk


def iter_text(chunks: Iterable[bytes]) -> Iterator[str]:
    """UTF-8 text of byte chunks (a leading BOM dropped), decoded incrementally."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    try:
        for chunk in chunks:
            if text := decoder.decode(chunk):
                yield text
        if tail := decoder.decode(b"", final=True):
            yield tail
    except UnicodeDecodeError:
        raise PayloadError("the file is not UTF-8") from None


def _where(index: int, line: int) -> str:
    """``item 3 (line 7)``: formatted only for a message, not for every item."""
    return f"item {index} (line {line})"


class _Reader:
    """A sliding text window over the chunks, with line numbers for messages."""

    def __init__(self, chunks: Iterable[bytes], max_item: int, first_line: int = 1) -> None:
        self.texts = iter_text(chunks)
        self.max_item = max_item
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.line = first_line  # the line number at self.counted
        self.counted = 0

    def line_at(self, pos: int) -> int:
        # find() runs at memchr speed, count() char by char: count from the first newline only
        # (most items share a line with the one before, or follow it after one newline).
        first = self.buf.find("\n", self.counted, pos)
        if first != -1:
            self.line += self.buf.count("\n", first, pos)
        self.counted = pos
        return self.line

    def more(self, at_least: int = 1) -> bool:
        """Read until ``at_least`` more characters are buffered; False at the end of input."""
        if self.pos > CHUNK:  # drop what was consumed, keeping line numbers right
            self.line_at(self.pos)
            self.buf, self.counted = self.buf[self.pos :], 0
            self.pos = 0
        target = len(self.buf) + at_least
        while len(self.buf) < target:
            text = next(self.texts, None)
            if text is None:
                self.eof = True
                return False
            self.buf += text
        return True

    def skip_space(self) -> str:
        """The next non-space character ("" at the end of input), not consumed."""
        while True:
            match = _SPACE.match(self.buf, self.pos)
            self.pos = match.end() if match else self.pos
            if self.pos < len(self.buf):
                return self.buf[self.pos]
            if not self.more():
                return ""

    def value(self, index: int, line: int) -> tuple[Any, str]:
        """Decode the JSON value at the cursor (item ``index``, on ``line``), reading more
        input while it is incomplete; returns it with its text."""
        while True:
            error: tuple[str, int] | None = None
            try:  # the C scanner itself, as JSONDecoder.raw_decode calls it
                value, end = _SCAN(self.buf, self.pos)
            except StopIteration as stop:  # what raw_decode reports as "Expecting value"
                error = ("Expecting value", stop.value)
            except json.JSONDecodeError as exc:
                error = (exc.msg, exc.pos)
            except RecursionError:
                raise PayloadError(f"{_where(index, line)}: nested too deeply") from None
            except ValueError:  # NaN/Infinity, integers over the digit limit
                raise PayloadError(f"{_where(index, line)}: invalid JSON value") from None
            if error is not None:
                # Input cut by a chunk boundary fails at its very end (or, for a string, where
                # the string starts); an error earlier on is a real syntax error.
                message, at = error
                cut = message.startswith("Unterminated string") or at >= len(self.buf) - 16
                if cut and self._grow(index, line):
                    continue
                raise PayloadError(f"{_where(index, line)}: invalid JSON ({message})")
            # A number ending at (or just before) the end of the buffer may continue in the
            # next chunk: "12" of "123", "1" of "1.5e3".
            scalar = type(value) not in _CONTAINERS
            if scalar and _NUMBER_TAIL.fullmatch(self.buf, end) and self._grow(index, line):
                continue
            text = self.buf[self.pos : end]
            self.pos = end
            return value, text

    def _grow(self, index: int, line: int) -> bool:
        pending = len(self.buf) - self.pos
        if self.eof:
            return False
        if pending > self.max_item:
            where = _where(index, line)
            raise PayloadError(f"{where}: invalid JSON or larger than {self.max_item} characters")
        # Doubling keeps re-decoding of a long item linear overall.
        return self.more(max(pending, CHUNK)) or pending < len(self.buf) - self.pos


def iter_json_items(
    chunks: Iterable[bytes], *, max_item: int = MAX_ITEM
) -> Iterator[tuple[int, int, Any]]:
    """``(index, line, value)`` for every item of the byte chunks (see :func:`iter_chunks`).

    :class:`PayloadError` names the item and line of the first bad one.
    """
    for index, line, values, _ in iter_json_lines(chunks, max_item=max_item):
        for value in values:
            yield index, line, value
            index += 1


def iter_json_lines(
    chunks: Iterable[bytes], *, max_item: int = MAX_ITEM
) -> Iterator[tuple[int, int, list[Any], bytes | None]]:
    """The items of :func:`iter_json_items` a line at a time: ``(index of the first, line,
    values, text)``, where ``text`` is the line's bytes when the values are its whole decoded
    content (a JSON array's items, or one value), else None.

    Most files are lines of whole JSON values (JSON lines, or a log of webhook bodies, an
    array per line): those are split on newlines and each line decoded at once by orjson, at
    about three times the speed of the character-level reader. The first line that is not a
    whole value by itself (a pretty-printed array, an item across lines, a syntax error, a line
    longer than :data:`FAST_LINE`) hands the rest of the input, from that line on, to the reader
    of :func:`iter_json_texts`, which reads anything and reports errors precisely (one value at
    a time, without a line's text).
    """
    source = iter(chunks)
    pending = b""
    index, line = 0, 1
    loads, decode_error = orjson.loads, orjson.JSONDecodeError
    at_start = True
    for chunk in source:
        if at_start:
            if not (chunk := pending + chunk):
                continue
            if len(chunk) < 3 and b"\xef\xbb\xbf".startswith(chunk):
                pending = chunk  # the first bytes of a BOM, maybe: wait for more
                continue
            pending, at_start = b"", False
            if chunk.startswith(b"\xef\xbb\xbf"):
                chunk = chunk[3:]
        buffer = pending + chunk if pending else chunk
        start = 0
        while (end := buffer.find(b"\n", start)) != -1:
            if end - start > FAST_LINE:
                yield from _read_on([buffer[start:]], source, max_item, index, line)
                return
            piece = buffer[start:end]
            if piece and not piece.isspace():
                try:
                    value = loads(piece)
                except decode_error:
                    yield from _read_on([buffer[start:]], source, max_item, index, line)
                    return
                values = value if type(value) is list else [value]
                yield index, line, values, piece
                index += len(values)
            line += 1
            start = end + 1
        pending = buffer[start:]
        if len(pending) > FAST_LINE:  # a very long line: read it item by item, bounded
            yield from _read_on([pending], source, max_item, index, line)
            return
    if pending and not pending.isspace():  # the last line, with no line break after it
        try:
            value = loads(pending)
        except decode_error:
            yield from _read_on([pending], source, max_item, index, line)
        else:
            yield index, line, value if type(value) is list else [value], pending


def _read_on(
    head: list[bytes], rest: Iterator[bytes], max_item: int, index: int, line: int
) -> Iterator[tuple[int, int, list[Any], None]]:
    """The items from here on, one by one, by the character-level reader, numbered on from
    ``index`` and ``line``."""
    for found, found_line, value, _ in iter_json_texts(
        chain(head, rest), max_item=max_item, first_index=index, first_line=line
    ):
        yield found, found_line, [value], None


def _object_at(reader: _Reader) -> tuple[dict[str, Any], str] | None:
    """The common case of :meth:`_Reader.value`, without its checks: a whole object in the
    buffer (an object that decodes cannot have been cut by a chunk boundary). None for
    anything else, which ``value`` then reads."""
    buf, pos = reader.buf, reader.pos
    try:
        value, end = _SCAN(buf, pos)
    except (StopIteration, ValueError, RecursionError):
        return None
    if type(value) is not dict:
        return None
    reader.pos = end
    return value, buf[pos:end]


def iter_json_texts(
    chunks: Iterable[bytes],
    *,
    max_item: int = MAX_ITEM,
    first_index: int = 0,
    first_line: int = 1,
) -> Iterator[tuple[int, int, Any, str]]:
    """:func:`iter_json_items` with each item's text as the input spells it (``index, line,
    value, text``), read character by character with the C scanner of :mod:`json`."""
    reader = _Reader(chunks, max_item, first_line)
    index = first_index
    state = _OUTSIDE
    while True:
        char = reader.buf[reader.pos : reader.pos + 1]
        if not char or char in _SPACES:  # most items follow "," or "[" at once
            char = reader.skip_space()
        if not char:
            if state != _OUTSIDE:
                where = _where(index, reader.line_at(reader.pos))
                raise PayloadError(f"{where}: the input ends inside an array")
            return
        if state == _OUTSIDE and char == "[":
            state = _FIRST
        elif state in (_FIRST, _NEXT) and char == "]":
            state = _OUTSIDE
        elif state == _NEXT:
            if char != ",":
                where = _where(index, reader.line_at(reader.pos))
                raise PayloadError(f"{where}: expected ',' or ']' after an array item")
            state = _VALUE
        else:
            line = reader.line_at(reader.pos)
            value, text = _object_at(reader) or reader.value(index, line)
            yield index, line, mend_surrogates(value, text), text
            index += 1
            state = _OUTSIDE if state == _OUTSIDE else _NEXT
            continue
        reader.pos += 1
