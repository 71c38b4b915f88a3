"""Where a MIME part's body sits in the raw file, so findings can name a file line.

The stdlib parser keeps no offsets, so we walk the raw lines beside the parsed tree: headers
end at the first empty line, a multipart body is cut at its ``--boundary`` delimiter lines
(RFC 2046 §5.1.1). A line map then turns a line of the decoded body into a file line: the same
for 7bit/8bit, through soft line breaks for quoted-printable (RFC 2045 §6.7 rule 5), and the
part's first body line for base64. Everything here is best effort: a mismatch gives None.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message as EmailMessage


def split_lines(data: bytes) -> list[bytes]:
    """Lines as the email parser sees them (CRLF, CR or LF), without their endings."""
    return data.splitlines()  # bytes split on exactly those three, unlike str.splitlines


@dataclass(frozen=True, slots=True)
class LineMap:
    """Decoded body line (1-based) → file line (1-based)."""

    first: int
    starts: tuple[int, ...] | None = None  # quoted-printable: file line of each decoded line
    exact: bool = True  # False: every line maps to ``first`` (base64 and the like)

    def file_line(self, line: int) -> int:
        if not self.exact:
            return self.first
        if self.starts is not None:
            if not self.starts:
                return self.first
            return self.starts[min(line, len(self.starts)) - 1]
        return self.first + line - 1


def header_lines(lines: list[bytes]) -> list[tuple[str, int]]:
    """``(lower-case name, file line)`` of each header field of the top-level header block."""
    found: list[tuple[str, int]] = []
    for index, line in enumerate(lines):
        if not line.strip():
            break
        if line[:1] in (b" ", b"\t") or b":" not in line:
            continue
        name = line.split(b":", 1)[0].strip().decode("latin-1").lower()
        found.append((name, index + 1))
    return found


def _body_start(lines: list[bytes], start: int, end: int) -> int:
    index = start
    while index < end and lines[index].strip():
        index += 1
    return index + 1


def locate_parts(message: EmailMessage, lines: list[bytes]) -> dict[int, LineMap]:
    """A :class:`LineMap` for every leaf part of ``message``, keyed by ``id(part)``."""
    found: dict[int, LineMap] = {}
    _locate(message, lines, 0, len(lines), found)
    return found


def _locate(
    part: EmailMessage, lines: list[bytes], start: int, end: int, found: dict[int, LineMap]
) -> None:
    body = _body_start(lines, start, end)
    payload = part.get_payload()
    if part.is_multipart() and isinstance(payload, list):
        if part.get_content_maintype() == "message":
            if payload and isinstance(payload[0], EmailMessage):
                _locate(payload[0], lines, body, end, found)
            return
        boundary = part.get_boundary()
        if not boundary:
            return
        delimiter = b"--" + boundary.encode("utf-8", "replace")
        closing = delimiter + b"--"
        marks = [i for i in range(body, end) if lines[i].rstrip() in (delimiter, closing)]
        if not marks:
            return
        segments: list[tuple[int, int]] = []
        for here, after in zip(marks, [*marks[1:], end], strict=True):
            if lines[here].rstrip() == closing:
                break
            segments.append((here + 1, after))
        for sub, (seg_start, seg_end) in zip(payload, segments, strict=False):
            if isinstance(sub, EmailMessage):
                _locate(sub, lines, seg_start, seg_end, found)
        return
    encoding = str(part.get("content-transfer-encoding", "7bit")).strip().lower()
    first = body + 1
    if encoding == "quoted-printable":
        starts: list[int] = []
        continuing = False
        for index in range(body, end):
            if not continuing:
                starts.append(index + 1)
            continuing = lines[index].rstrip(b" \t").endswith(b"=")
        found[id(part)] = LineMap(first, tuple(starts))
    elif encoding in ("7bit", "8bit", "binary", ""):
        found[id(part)] = LineMap(first)
    else:
        found[id(part)] = LineMap(first, exact=False)
