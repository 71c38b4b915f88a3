"""Opening report files: formats recognised by content, emails and mailboxes, and caps that
refuse compression bombs quickly in bounded memory."""

from __future__ import annotations

import gzip
import io
import struct
import time
import tracemalloc
import zipfile
import zlib
from email.message import EmailMessage
from pathlib import Path
from typing import BinaryIO

import pytest

from deliverwatch.dmarc.aggregate import parse_aggregate
from deliverwatch.dmarc.containers import (
    Limits,
    Payload,
    Rejected,
    iter_payloads,
    payloads_from_bytes,
    sniff,
    stream_repairs,
)
from deliverwatch.dmarc.errors import ContainerError, TooLargeError
from tests.dmarc.support import report_xml

REPORT = report_xml([{"ip": "192.0.2.1", "count": 3}, {"ip": "192.0.2.2", "count": 4}])
MiB = 1024 * 1024


def drain(stream: BinaryIO) -> int:
    total = 0
    with stream:
        while chunk := stream.read(MiB):
            total += len(chunk)
    return total


def payloads(data: bytes, name: str = "x") -> list[Payload | Rejected]:
    return list(payloads_from_bytes(data, name))


def zeros_deflate(mebibytes: int) -> bytes:
    """A raw deflate stream of a report's start then ``mebibytes`` MiB of zeros, about 1000
    times smaller, made in milliseconds: after a full flush the compressor starts afresh, so
    one flushed MiB of zeros compresses to the same bytes every time and can be repeated."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    start = compressor.compress(REPORT[:200]) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(bytes(MiB)) + compressor.flush(zlib.Z_FULL_FLUSH)
    again = compressor.compress(bytes(MiB)) + compressor.flush(zlib.Z_FULL_FLUSH)
    assert again == block
    return start + block * mebibytes + compressor.flush(zlib.Z_FINISH)


def gzip_bomb(mebibytes: int) -> bytes:
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    trailer = struct.pack("<II", 0, (mebibytes * MiB) & 0xFFFFFFFF)  # the CRC is never reached
    return header + zeros_deflate(mebibytes) + trailer


def zip_bomb(mebibytes: int, name: str = "report.xml") -> bytes:
    data = zeros_deflate(mebibytes)
    size = mebibytes * MiB
    encoded = name.encode()
    local = struct.pack(
        "<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0, 0, len(data), size, len(encoded), 0
    )
    central = struct.pack(
        "<IHHHHHHIIIHHHHHII",
        0x02014B50,
        20,
        20,
        0,
        8,
        0,
        0,
        0,
        len(data),
        size,
        len(encoded),
        0,
        0,
        0,
        0,
        0,
        0,
    )
    body = local + encoded + data
    directory = central + encoded
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(directory), len(body), 0)
    return body + directory + end


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "empty"),
        (b"\x1f\x8b\x08rest", "gzip"),
        (b"PK\x03\x04rest", "zip"),
        (b"\xef\xbb\xbf  <?xml", "xml"),
        (b"\n<feedback>", "xml"),
        (b' {"a": 1}', "json"),
        (b"From someone@example.com Tue Apr 30 02:09:16 2019\n", "mbox"),
        (b"Received: from x\nSubject: y\n", "email"),
        (b"%PDF-1.4", "unknown"),
        (b"   \n", "empty"),
    ],
)
def test_sniff(data: bytes, expected: str) -> None:
    assert sniff(data) == expected


@pytest.mark.parametrize("build", [gzip_bomb, zip_bomb], ids=["gzip", "zip"])
def test_bomb_is_refused_quickly_in_bounded_memory(build: object) -> None:
    bomb = build(2047)  # type: ignore[operator]
    assert len(bomb) < 3 * MiB  # 2 GiB of zeros inside
    tracemalloc.start()
    started = time.perf_counter()
    try:
        (payload,) = payloads(bomb, "bomb")
        assert isinstance(payload, Payload)  # the first 4 KB look like a report
        with pytest.raises(TooLargeError, match="compression bomb"):
            drain(payload.open())
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 1.0
    assert peak < 40 * MiB


def refusal(data: bytes, limits: Limits | None = None) -> str:
    """Why ``data`` (one report) is refused: when it is sniffed, or when it is read."""
    (found,) = payloads_from_bytes(data, "x", limits)
    if isinstance(found, Rejected):
        return found.reason
    try:
        drain(found.open())
    except ContainerError as exc:
        return exc.reason
    return "accepted"


def test_size_cap() -> None:
    assert "more than 1000 bytes" in refusal(gzip.compress(REPORT), Limits(max_bytes=1000))
    big = gzip.compress(REPORT * 10)
    assert "more than 5000 bytes" in refusal(big, Limits(max_bytes=5000))


def test_gzip_with_several_members_and_trailing_bytes() -> None:
    half = len(REPORT) // 2
    data = gzip.compress(REPORT[:half]) + gzip.compress(REPORT[half:]) + b"\r\n"
    (payload,) = payloads(data)
    assert isinstance(payload, Payload) and payload.kind == "aggregate"
    with payload.open() as stream:
        assert parse_aggregate(stream).message_count == 7
        assert stream_repairs(stream) == ["ignored 2 bytes after the end of the gzip data"]


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (gzip.compress(REPORT)[:-20], "truncated gzip data"),
        (b"\x1f\x8b\x08\x00" + b"\x00" * 6 + b"not deflate at all", "corrupt gzip data"),
    ],
)
def test_broken_gzip(data: bytes, reason: str) -> None:
    assert reason in refusal(data)


def make_zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_zip_members() -> None:
    data = make_zip(
        {
            "a.xml": REPORT,
            "dir/b.json": b'{"organization-name": "x"}',
            "c.xml.gz": gzip.compress(REPORT),
            "empty.xml": b"",
        }
    )
    found = payloads(data, "r.zip")
    summary = [(p.name, getattr(p, "kind", None) or getattr(p, "reason", None)) for p in found]
    assert summary == [
        ("r.zip › a.xml", "aggregate"),
        ("r.zip › dir/b.json", "smtp_tls"),
        ("r.zip › c.xml.gz", "zip member holds another archive (nested archives refused)"),
        ("r.zip › empty.xml", "empty zip member content"),
    ]
    with found[0].open() as stream:  # type: ignore[union-attr]
        assert parse_aggregate(stream).message_count == 7


def test_stored_zip_member_and_crc_check() -> None:
    data = make_zip({"a.xml": REPORT}, zipfile.ZIP_STORED)
    (payload,) = payloads(data)
    assert isinstance(payload, Payload)
    assert drain(payload.open()) == len(REPORT)
    corrupt = bytearray(data)
    corrupt[data.index(b"<feedback>") + 3] ^= 0x20
    assert "CRC mismatch" in refusal(bytes(corrupt))
    deflated = bytearray(make_zip({"a.xml": REPORT}))
    deflated[deflated.index(b"PK\x01\x02") + 16] ^= 0xFF  # the central directory's CRC
    assert "CRC mismatch" in refusal(bytes(deflated))


def test_bad_zips_are_rejected() -> None:
    (corrupt,) = payloads(b"PK\x03\x04" + b"\x00" * 100)
    assert isinstance(corrupt, Rejected) and corrupt.reason.startswith("corrupt zip")
    many = make_zip({f"{i}.xml": REPORT for i in range(70)})
    (too_many,) = payloads(many)
    assert isinstance(too_many, Rejected) and "more than 64" in too_many.reason


def email_with(*attachments: tuple[bytes, str, str, str]) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "noreply-dmarc-support@google.com"
    message["To"] = "dmarc@example.test"
    message["Subject"] = "Report domain: example.test Submitter: google.com"
    message.set_content("A DMARC report is attached.")
    for data, maintype, subtype, filename in attachments:
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message


def test_email_attachments_of_every_kind() -> None:
    message = email_with(
        (gzip.compress(REPORT), "application", "gzip", "a.xml.gz"),
        (make_zip({"b.xml": REPORT}), "application", "zip", "b.zip"),
        (gzip.compress(REPORT), "application", "octet-stream", "c.xml.gz"),
        (b"just a picture", "image", "png", "logo.png"),
    )
    message.add_attachment(REPORT.decode(), subtype="xml", filename="d.xml")
    found = payloads(message.as_bytes(), "mail.eml")
    assert [(p.name, p.kind) for p in found if isinstance(p, Payload)] == [
        ("mail.eml › a.xml.gz", "aggregate"),
        ("mail.eml › b.zip › b.xml", "aggregate"),
        ("mail.eml › c.xml.gz", "aggregate"),
        ("mail.eml › d.xml", "aggregate"),
    ]
    for payload in found:
        assert isinstance(payload, Payload)
        with payload.open() as stream:
            assert parse_aggregate(stream).message_count == 7


def test_forwarded_report_and_email_without_report() -> None:
    original = email_with((gzip.compress(REPORT), "application", "gzip", "a.xml.gz"))
    forward = EmailMessage()
    forward["Subject"] = "Fwd: report"
    forward.set_content("see attached")
    forward.add_attachment(original)
    (found,) = payloads(forward.as_bytes(), "fwd.eml")
    assert isinstance(found, Payload) and found.name == "fwd.eml › a.xml.gz"
    (none,) = payloads(email_with().as_bytes(), "plain.eml")
    assert isinstance(none, Rejected)
    assert none.reason == "no DMARC or SMTP TLS report found in this email"


def test_mbox(tmp_path: Path) -> None:
    first = email_with((gzip.compress(REPORT), "application", "gzip", "a.xml.gz")).as_bytes()
    second = email_with().as_bytes()
    third = email_with((make_zip({"c.xml": REPORT}), "application", "zip", "c.zip")).as_bytes()
    mbox = b"".join(
        b"From MAILER-DAEMON Thu Jan  1 00:00:00 2025\n" + message + b"\n"
        for message in (first, second, third)
    )
    path = tmp_path / "reports.mbox"
    path.write_bytes(mbox)
    found = list(iter_payloads(path))
    assert [(p.name.removeprefix(str(tmp_path) + "/"), type(p).__name__) for p in found] == [
        ("reports.mbox[1] › a.xml.gz", "Payload"),
        ("reports.mbox[2]", "Rejected"),
        ("reports.mbox[3] › c.zip › c.xml", "Payload"),
    ]
    single = tmp_path / "one.eml"
    single.write_bytes(b"From MAILER-DAEMON Thu Jan  1 00:00:00 2025\n" + first)
    (only,) = iter_payloads(single)
    assert only.name == f"{single} › a.xml.gz"


def test_files_that_are_not_reports(tmp_path: Path) -> None:
    pdf = tmp_path / "doc.pdf"
    pdf.write_bytes(b"%PDF-1.4 whatever")
    (rejected,) = iter_payloads(pdf)
    assert isinstance(rejected, Rejected) and rejected.reason.startswith("not a report")
    (missing,) = iter_payloads(tmp_path / "absent.xml")
    assert isinstance(missing, Rejected) and "No such file" in missing.reason
