"""A message or template reduced to what the lint rules look at.

A full message (``.eml``, RFC 5322) is parsed with the stdlib ``email`` package
(``policy.default``); a template (``.html``/``.htm``/``.mjml`` output, ``.txt``) is its body
with headers given by ``--from``/``--headers`` or config. Either way the rules get a
:class:`Message`: headers with their file lines, text/HTML parts, links (href, anchor text,
line), images (alt, size), hidden text and active content. Input that cannot be read gives a
:class:`Message` with ``error`` set (reported as ``message.unparseable``), never an exception.
"""

from __future__ import annotations

import email.errors
import email.header
import email.utils
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from email import policy
from email.message import Message as EmailMessage
from email.parser import BytesParser
from email.policy import EmailPolicy
from functools import lru_cache
from pathlib import Path
from typing import Any, Final, Literal

from deliverwatch.content.html import extract_html
from deliverwatch.content.lines import LineMap, header_lines, locate_parts, split_lines

Kind = Literal["message", "template"]
MESSAGE_SUFFIXES: Final = frozenset({".eml", ".mbox", ".mail"})
HTML_SUFFIXES: Final = frozenset({".html", ".htm", ".mjml", ".xhtml"})
_URL: Final = re.compile(r"""https?://[^\s<>"'()\[\]{}]+""", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Header:
    name: str
    value: str  # unfolded, RFC 2047 encoded-words decoded
    line: int | None  # None: not from the linted file (--from, --headers, config)


@dataclass(frozen=True, slots=True)
class Link:
    href: str
    text: str
    line: int | None
    part: str
    hidden: bool = False
    has_image: bool = False


@dataclass(frozen=True, slots=True)
class Image:
    src: str
    alt: str | None
    width: int | None
    height: int | None
    line: int | None
    part: str

    @property
    def tracking_pixel(self) -> bool:
        """1×1 (or smaller) images: open-tracking pixels and spacers, not content."""
        return (self.width is not None and self.width <= 2) or (
            self.height is not None and self.height <= 2
        )


@dataclass(frozen=True, slots=True)
class Part:
    content_type: str  # text/plain or text/html
    text: str  # decoded, newlines normalized to \n
    transfer_encoding: str
    line: int | None  # file line of the body's first line
    size: int  # bytes of the decoded text in UTF-8


@dataclass
class Message:
    path: str
    kind: Kind
    raw: bytes = b""  # the file as read (full messages: what DKIM and spamd see)
    headers: list[Header] = field(default_factory=list)
    parts: list[Part] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    images: list[Image] = field(default_factory=list)
    visible_text: str = ""  # HTML text a reader sees (whitespace collapsed)
    hidden_text: list[tuple[str, int | None]] = field(default_factory=list)
    active: list[tuple[str, int | None]] = field(default_factory=list)
    defects: list[str] = field(default_factory=list)
    error: str | None = None

    def header(self, name: str) -> Header | None:
        name = name.lower()
        return next((h for h in self.headers if h.name.lower() == name), None)

    def all_headers(self, name: str) -> list[Header]:
        name = name.lower()
        return [h for h in self.headers if h.name.lower() == name]

    @property
    def html_parts(self) -> list[Part]:
        return [p for p in self.parts if p.content_type == "text/html"]

    @property
    def text_parts(self) -> list[Part]:
        return [p for p in self.parts if p.content_type == "text/plain"]


def decode_header_value(value: str) -> str:
    """Unfold and decode RFC 2047 encoded-words; undecodable input is kept as written."""
    unfolded = re.sub(r"\r?\n[ \t]", " ", value).replace("\r", "").replace("\n", "")
    if "=?" not in unfolded:
        return unfolded.strip()
    try:
        return str(email.header.make_header(email.header.decode_header(unfolded))).strip()
    except (ValueError, LookupError, UnicodeError, email.errors.HeaderParseError):
        return unfolded.strip()


@lru_cache(maxsize=4096)  # several rules ask about the same From
def address_domain(value: str) -> str | None:
    """The domain of the first address in a header value, lower-case; None if there is none."""
    for _name, address in email.utils.getaddresses([value]):
        if "@" in address:
            domain = address.rsplit("@", 1)[1].strip().strip(">").rstrip(".").lower()
            if domain and "." in domain and " " not in domain:
                return domain
    return None


#: MIME headers the parser and we read over and over (every ``get_content_type()`` call
#: re-parses Content-Type): their parsed form is cached by value, as the values repeat.
_CACHED_HEADERS: Final = frozenset(
    {"content-type", "content-transfer-encoding", "content-disposition", "mime-version"}
)


@lru_cache(maxsize=2048)
def _parsed_header(name: str, value: str) -> Any:
    return policy.default.header_fetch_parse(name, value)


class _CachingPolicy(EmailPolicy):
    """``policy.default`` whose MIME header objects are parsed once per distinct value.

    Header objects are immutable, so sharing them between messages is safe; this is what
    makes parsing with ``policy.default`` fast enough to lint hundreds of messages a second.
    """

    def header_fetch_parse(self, name: str, value: str) -> Any:
        if isinstance(value, str) and name.lower() in _CACHED_HEADERS:
            return _parsed_header(name, value)
        return super().header_fetch_parse(name, value)


POLICY: Final = _CachingPolicy()


def _normalize(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _decode_part(part: EmailMessage) -> str:
    try:
        content = part.get_content()  # type: ignore[attr-defined]
        if isinstance(content, str):
            return content
    except Exception:  # noqa: S110 - a broken charset or encoding: decode by hand below
        pass
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload.decode(charset, "replace")
    except LookupError:
        return payload.decode("utf-8", "replace")


def _add_body(
    message: Message, ctype: str, text: str, encoding: str, lines: LineMap | None
) -> None:
    text = _normalize(text)
    message.parts.append(
        Part(ctype, text, encoding, lines.first if lines else None, len(text.encode("utf-8")))
    )

    def file_line(line: int) -> int | None:
        return lines.file_line(line) if lines else None

    if ctype == "text/html":
        doc = extract_html(text)
        message.links += [
            Link(x.href, x.text, file_line(x.line), ctype, x.hidden, x.has_image) for x in doc.links
        ]
        message.images += [
            Image(i.src, i.alt, i.width, i.height, file_line(i.line), ctype) for i in doc.images
        ]
        message.visible_text = " ".join(filter(None, (message.visible_text, doc.text)))
        message.hidden_text += [(t, file_line(n)) for t, n in doc.hidden_text]
        message.active += [(e, file_line(n)) for e, n in doc.active]
    else:
        number, counted = 1, 0
        for found in _URL.finditer(text):
            number += text.count("\n", counted, found.start())
            counted = found.start()
            url = found.group().rstrip(".,;:!?")
            message.links.append(Link(url, "", file_line(number), ctype))


def parse_message(data: bytes, path: str = "-", *, strict: bool = False) -> Message:
    """A full RFC 5322 message; ``error`` is set when it cannot be read as one.

    ``strict`` re-raises unexpected exceptions instead (the fuzz tests use it to find bugs).
    """
    message = Message(path, "message", raw=data)
    try:
        _parse_into(message, data)
    except Exception as exc:  # the email package raises many types on hostile input
        if strict:
            raise
        return Message(path, "message", raw=data, error=f"{type(exc).__name__}: {exc}")
    return message


def _parse_into(message: Message, data: bytes) -> None:
    if not data.strip():
        message.error = "the file is empty"
        return
    if b"\x00" in data:
        message.error = "the file contains NUL bytes: not a text message"
        return
    parsed = BytesParser(policy=POLICY).parsebytes(data)
    raw_items = list(parsed.raw_items())
    if not raw_items:
        message.error = "no header fields: not an RFC 5322 message (headers, blank line, body)"
        return
    lines = split_lines(data)
    positions: dict[str, list[int]] = {}
    for name, number in header_lines(lines):
        positions.setdefault(name, []).append(number)
    for name, value in raw_items:
        numbers = positions.get(name.lower().strip(), [])
        line = numbers.pop(0) if numbers else None
        message.headers.append(Header(name.strip(), decode_header_value(str(value)), line))
    maps = locate_parts(parsed, lines)
    for part in parsed.walk():
        message.defects += [type(d).__name__ for d in part.defects]
        if part.is_multipart() or part.get_content_maintype() != "text":
            continue
        ctype = part.get_content_type()
        if ctype not in ("text/plain", "text/html") or part.get_content_disposition() == (
            "attachment"
        ):
            continue
        encoding = str(part.get("content-transfer-encoding", "7bit")).strip().lower()
        _add_body(message, ctype, _decode_part(part), encoding, maps.get(id(part)))


def parse_template(
    text: str,
    path: str = "-",
    *,
    html: bool,
    headers: Sequence[tuple[str, str]] = (),
    text_alternative: str | None = None,
) -> Message:
    """A template body (HTML or text) with headers supplied from outside the file."""
    message = Message(path, "template", raw=text.encode("utf-8", "replace"))
    message.headers = [Header(n, decode_header_value(v), None) for n, v in headers]
    if "\x00" in text:
        message.error = "the file contains NUL bytes: not a text template"
        return message
    try:
        _add_body(message, "text/html" if html else "text/plain", text, "8bit", LineMap(1))
        if text_alternative is not None:
            _add_body(message, "text/plain", text_alternative, "8bit", None)
    except Exception as exc:  # pragma: no cover - extraction is lenient; belt and braces
        return Message(path, "template", error=f"{type(exc).__name__}: {exc}")
    return message


def parse_header_block(data: bytes) -> list[tuple[str, str]]:
    """An RFC 5322 header block (``--headers`` file): ``Name: value`` lines, folding allowed.

    Raises ValueError when a line is neither a field nor a continuation.
    """
    fields: list[tuple[str, str]] = []
    for number, line in enumerate(split_lines(data.decode("utf-8", "replace").encode()), 1):
        text = line.decode("utf-8")
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        if text[:1] in (" ", "\t"):
            if not fields:
                raise ValueError(f"line {number}: continuation line before any header field")
            name, value = fields[-1]
            fields[-1] = (name, f"{value} {text.strip()}")
            continue
        name, colon, value = text.partition(":")
        if not colon or not re.fullmatch(r"[!-9;-~]+", name.strip()):
            raise ValueError(f"line {number}: not a 'Name: value' header field: {text[:60]!r}")
        fields.append((name.strip(), value.strip()))
    return fields


def looks_like_message(data: bytes) -> bool:
    """Sniff a file without a known suffix: does it start with a header field?"""
    first = data.lstrip()[:200].split(b"\n", 1)[0]
    return bool(re.match(rb"(?:From |[!-9;-~]+:)", first))


def load_file(path: Path, headers: Iterable[tuple[str, str]] = ()) -> Message:
    """Read and parse ``path`` by its suffix; a template ``X.html`` takes ``X.txt`` as its
    plain-text alternative when that file exists. Unreadable files give ``error``."""
    shown = str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        return Message(shown, "template", error=f"cannot read: {exc.strerror or exc}")
    suffix = path.suffix.lower()
    if suffix in MESSAGE_SUFFIXES or (
        suffix not in HTML_SUFFIXES and suffix != ".txt" and looks_like_message(data)
    ):
        return parse_message(data, shown)
    text = data.decode("utf-8", "replace").removeprefix("\ufeff")
    is_html = suffix in HTML_SUFFIXES or (
        suffix != ".txt" and re.search(r"<(?:html|body|table|div|p)\b", text, re.I) is not None
    )
    alternative = None
    sibling = path.with_suffix(".txt")
    if is_html and sibling.is_file():
        try:
            alternative = sibling.read_text(encoding="utf-8", errors="replace")
        except OSError:
            alternative = None
    return parse_template(
        text, shown, html=is_html, headers=list(headers), text_alternative=alternative
    )
