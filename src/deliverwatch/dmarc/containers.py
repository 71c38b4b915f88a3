"""Finding reports in files: plain XML or JSON, gzip, zip, an email (``.eml``) or a mailbox
(mbox) whose messages carry them as attachments.

:func:`iter_payloads` yields, for one file, a :class:`Payload` per report found (with a
``open()`` that gives the decompressed bytes, caps enforced) or a :class:`Rejected` naming the
part that could not be used and why: one bad attachment never hides the others. Formats are
recognised by their first bytes, not by file names, which reporters get wrong.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from pathlib import Path
from typing import BinaryIO, Literal, cast

from deliverwatch.dmarc.decompress import (
    GZIP_MAGIC,
    ZIP_MAGIC,
    Limits,
    open_gzip,
    open_zip_member,
    zip_members,
)
from deliverwatch.dmarc.errors import ContainerError, ReportError, TooLargeError

Kind = Literal["aggregate", "failure", "smtp_tls"]
Format = Literal["empty", "gzip", "zip", "xml", "json", "mbox", "email", "unknown"]

#: MIME types a report attachment comes as (RFC 7489 §7.2.1.1, RFC 8460 §5.3, and practice).
REPORT_TYPES = frozenset(
    {
        "application/gzip",
        "application/x-gzip",
        "application/zip",
        "application/x-zip",
        "application/x-zip-compressed",
        "text/xml",
        "application/xml",
        "application/json",
        "application/tlsrpt+gzip",
        "application/tlsrpt+json",
    }
)
#: File names that make an ``application/octet-stream`` (or any) part a report.
REPORT_SUFFIXES = (".xml", ".gz", ".gzip", ".zip", ".json")
_HEAD = 4096
_SEP = " › "


@dataclass(frozen=True, slots=True)
class Payload:
    """One report found in a file. ``name`` says where (``file.eml › report.xml.gz``)."""

    name: str
    kind: Kind
    opener: Callable[[], BinaryIO]
    #: The parsed email, for failure reports (which are whole emails).
    message: Message | None = None

    def open(self) -> BinaryIO:
        """A fresh stream of the report's decompressed bytes; close it when done."""
        return self.opener()


@dataclass(frozen=True, slots=True)
class Rejected:
    """A file or part that holds no usable report, with the reason."""

    name: str
    reason: str


def sniff(head: bytes) -> Format:
    """The format of data starting with ``head``."""
    if not head:
        return "empty"
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith((ZIP_MAGIC, b"PK\x05\x06")):
        return "zip"
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "xml"  # UTF-16 with a byte order mark: only XML reports come like this
    text = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"<"):
        return "xml"
    if text.startswith(b"{"):
        return "json"
    if head.startswith(b"From "):
        return "mbox"
    first = head.split(b"\n", 1)[0]
    name, colon, _ = first.partition(b":")
    if colon and name and all(33 <= c <= 126 for c in name):
        return "email"
    if not text:
        return "empty"
    return "unknown"


def iter_payloads(path: Path, limits: Limits | None = None) -> Iterator[Payload | Rejected]:
    """The reports in the file at ``path`` (see the module docstring)."""
    limits = limits or Limits()
    name = str(path)
    try:
        with path.open("rb") as stream:
            head = stream.read(_HEAD)
            fmt = sniff(head)
            if fmt == "mbox":
                yield from _mbox_payloads(_split_mbox(stream, head, limits), name, limits)
                return
            if fmt == "email":
                data = head + stream.read(limits.max_message_bytes + 1 - len(head))
                if len(data) > limits.max_message_bytes:
                    yield Rejected(name, f"email larger than {limits.max_message_bytes} bytes")
                    return
                yield from _email_payloads(data, name, limits)
                return
    except OSError as exc:
        yield Rejected(name, exc.strerror or str(exc))
        return
    yield from _blob_payloads(name, lambda: path.open("rb"), fmt, limits)


def payloads_from_bytes(
    data: bytes, name: str, limits: Limits | None = None
) -> Iterator[Payload | Rejected]:
    """The reports in ``data`` (an uploaded file or an email fetched from a mailbox)."""
    limits = limits or Limits()
    fmt = sniff(data[:_HEAD])
    if fmt == "mbox":
        stream = io.BytesIO(data)
        head = stream.read(_HEAD)
        yield from _mbox_payloads(_split_mbox(stream, head, limits), name, limits)
        return
    if fmt == "email":
        if len(data) > limits.max_message_bytes:
            yield Rejected(name, f"email larger than {limits.max_message_bytes} bytes")
            return
        yield from _email_payloads(data, name, limits)
        return
    yield from _blob_payloads(name, lambda: io.BytesIO(data), fmt, limits)


def _blob_payloads(
    name: str,
    opener: Callable[[], BinaryIO],
    fmt: Format,
    limits: Limits,
) -> Iterator[Payload | Rejected]:
    """Reports in a file or attachment already known to be of format ``fmt``."""
    try:
        if fmt == "empty":
            raise ContainerError("empty file")
        if fmt == "xml":
            yield Payload(name, "aggregate", opener)
        elif fmt == "json":
            yield Payload(name, "smtp_tls", opener)
        elif fmt == "gzip":

            def gunzip() -> BinaryIO:
                return cast(BinaryIO, open_gzip(opener(), limits))

            yield Payload(name, _inner_kind(gunzip, "gzip"), gunzip)
        elif fmt == "zip":
            yield from _zip_payloads(name, opener, limits)
        else:
            raise ContainerError("not a report: neither XML, JSON, gzip, zip nor an email")
    except ReportError as exc:
        yield Rejected(name, exc.reason)


def _inner_kind(opener: Callable[[], BinaryIO], container: str) -> Kind:
    with opener() as stream:
        head = stream.read(_HEAD)
    inner = sniff(head)
    if inner == "xml":
        return "aggregate"
    if inner == "json":
        return "smtp_tls"
    if inner in ("gzip", "zip"):
        raise ContainerError(f"{container} holds another archive (nested archives refused)")
    if inner == "empty":
        raise ContainerError(f"empty {container} content")
    raise ContainerError(f"{container} content is neither XML nor JSON")


def _zip_payloads(
    name: str, opener: Callable[[], BinaryIO], limits: Limits
) -> Iterator[Payload | Rejected]:
    try:
        with opener() as raw, zipfile.ZipFile(raw) as archive:
            members = zip_members(archive, limits)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as exc:
        raise ContainerError(f"corrupt zip: {exc}") from None
    if not members:
        raise ContainerError("empty zip")
    for info in members:
        member_name = f"{name}{_SEP}{info.filename}"

        def member(info: zipfile.ZipInfo = info) -> BinaryIO:
            raw = opener()
            try:
                return cast(BinaryIO, open_zip_member(raw, info, limits))
            except BaseException:
                raw.close()
                raise

        try:
            yield Payload(member_name, _inner_kind(member, "zip member"), member)
        except ReportError as exc:
            yield Rejected(member_name, exc.reason)


def _mbox_payloads(
    messages: Iterator[bytes | str], name: str, limits: Limits
) -> Iterator[Payload | Rejected]:
    """Messages are named ``file[1]``, ``file[2]``…, or just ``file`` when it holds one (an
    ``.eml`` saved with its ``From `` line)."""
    current = next(messages, None)
    index = 0
    while current is not None:
        following = next(messages, None)
        index += 1
        label = name if index == 1 and following is None else f"{name}[{index}]"
        if isinstance(current, str):
            yield Rejected(label, current)
        else:
            yield from _email_payloads(current, label, limits)
        current = following


def _split_mbox(stream: BinaryIO, head: bytes, limits: Limits) -> Iterator[bytes | str]:
    """The messages of an mbox file: each starts at a ``From `` line at the start of the
    file or after an empty line. A message over the size cap is replaced by the reason."""
    lines = _lines(head, stream)
    current: list[bytes] = []
    size = 0
    too_large = False
    previous_blank = True
    for line in lines:
        if line.startswith(b"From ") and previous_blank:
            if current or too_large:
                yield _mbox_message(current, too_large, limits)
            current, size, too_large = [], 0, False
            previous_blank = False
            continue
        previous_blank = line in (b"\n", b"\r\n")
        size += len(line)
        if size > limits.max_message_bytes:
            too_large, current = True, []
        elif not too_large:
            current.append(line)
    if current or too_large:
        yield _mbox_message(current, too_large, limits)


def _mbox_message(lines: list[bytes], too_large: bool, limits: Limits) -> bytes | str:
    if too_large:
        return f"message larger than {limits.max_message_bytes} bytes"
    return b"".join(lines)


def _lines(head: bytes, stream: BinaryIO) -> Iterator[bytes]:
    rest = head
    while True:
        *complete, rest = rest.split(b"\n")
        for line in complete:
            yield line + b"\n"
        chunk = stream.read(1024 * 1024)
        if not chunk:
            break
        rest += chunk
    if rest:
        yield rest


def _email_payloads(data: bytes, name: str, limits: Limits) -> Iterator[Payload | Rejected]:
    message = BytesParser(policy=compat32).parsebytes(data)
    parts = list(message.walk())
    if any(part.get_content_type() == "message/feedback-report" for part in parts):
        yield Payload(name, "failure", lambda: io.BytesIO(data), message)
        return
    found = 0
    for part in parts:
        if part.is_multipart():
            continue
        content_type = part.get_content_type()
        filename = _filename(part)
        if content_type not in REPORT_TYPES and not filename.lower().endswith(REPORT_SUFFIXES):
            continue
        found += 1
        label = f"{name}{_SEP}{filename or content_type}"
        if found > limits.max_members:
            yield Rejected(label, f"more than {limits.max_members} reports in one email")
            return
        body = part.get_payload(decode=True)
        if not isinstance(body, bytes) or not body:
            yield Rejected(label, "empty attachment")
            continue
        yield from _blob_payloads(label, _bytes_opener(body), sniff(body[:_HEAD]), limits)
    if found:
        return
    if _looks_like_text_failure_report(message):
        yield Payload(name, "failure", lambda: io.BytesIO(data), message)
    else:
        yield Rejected(name, "no DMARC or SMTP TLS report found in this email")


def _bytes_opener(body: bytes) -> Callable[[], BinaryIO]:
    return lambda: io.BytesIO(body)


def _filename(part: Message) -> str:
    filename = part.get_filename() or part.get_param("name")
    return filename.strip() if isinstance(filename, str) else ""


def _looks_like_text_failure_report(message: Message) -> bool:
    """A failure report without the ARF part (Exim and others send plain text)."""
    subject = str(message.get("Subject", "")).lower()
    return "dmarc" in subject and ("failure" in subject or "forensic" in subject)


def stream_repairs(stream: object) -> list[str]:
    """What the decompression tolerated (trailing bytes after a gzip stream)."""
    repairs = getattr(stream, "repairs", None)
    return list(repairs) if isinstance(repairs, list) else []


__all__ = [
    "REPORT_TYPES",
    "ContainerError",
    "Kind",
    "Limits",
    "Payload",
    "Rejected",
    "TooLargeError",
    "iter_payloads",
    "payloads_from_bytes",
    "sniff",
    "stream_repairs",
]
