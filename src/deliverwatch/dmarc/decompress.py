"""Streaming decompression with caps on the decompressed size and on the compression ratio.

A gzip or zip bomb (a few kilobytes that inflate to gigabytes) is refused as soon as the
ratio of bytes produced to compressed bytes consumed passes ``Limits.max_ratio`` (checked once
``Limits.ratio_floor`` bytes came out, so small, very repetitive reports are fine): for a
bomb that is after some megabytes, in milliseconds. Each ``read`` inflates at most the bytes
asked for (zlib's ``max_length``), so memory stays bounded whatever the input.
"""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from dataclasses import dataclass
from typing import BinaryIO

from deliverwatch.dmarc.errors import ContainerError, TooLargeError

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class Limits:
    """Caps applied while opening reports (all sizes in bytes)."""

    #: Decompressed size of one report. A 1 GB aggregate report is legitimate.
    max_bytes: int = 2 * 1024**3
    #: Decompressed/compressed ratio refused (real reports stay under ~150; zeros reach ~1000).
    max_ratio: int = 500
    #: The ratio is only judged once this many bytes came out.
    ratio_floor: int = 16 * 1024**2
    #: One email message (an attachment is in memory while its email is read).
    max_message_bytes: int = 256 * 1024**2
    #: Members of a zip, reports in one email.
    max_members: int = 64
    #: A JSON (SMTP TLS) report is read whole.
    max_json_bytes: int = 64 * 1024**2


class _Inflating(io.RawIOBase):
    """A readable stream of the data inflated from ``source`` (zlib ``wbits`` format)."""

    def __init__(
        self,
        source: BinaryIO,
        limits: Limits,
        *,
        wbits: int,
        what: str,
        compressed_size: int | None = None,
        crc: int | None = None,
    ) -> None:
        self._source = source
        self._limits = limits
        self._wbits = wbits
        self._what = what
        self._left = compressed_size  # zip members: the compressed bytes that belong to us
        self._crc_expected = crc
        self._crc = 0
        self._inflater = zlib.decompressobj(wbits)
        self._pending = b""
        self._consumed = 0
        self._produced = 0
        self._done = False
        #: What was tolerated (trailing bytes after the gzip stream).
        self.repairs: list[str] = []

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read(self, size: int = -1) -> bytes:
        want = _CHUNK * 16 if size is None or size < 0 else size
        while not self._done:
            if not self._pending:
                self._pending = self._next_input()
                if not self._pending:
                    if self._inflater.eof:
                        self._finish()
                        break
                    raise ContainerError(f"truncated {self._what} data")
            try:
                out = self._inflater.decompress(self._pending, want)
            except zlib.error as exc:
                raise ContainerError(f"corrupt {self._what} data: {exc}") from None
            self._consumed += len(self._pending) - len(self._inflater.unconsumed_tail)
            self._pending = self._inflater.unconsumed_tail
            if out:
                self._count(out)
            if self._inflater.eof:
                self._pending = b""
                self._next_member(self._inflater.unused_data)
            if out:
                return out
        return b""

    def _next_input(self) -> bytes:
        size = _CHUNK if self._left is None else min(_CHUNK, self._left)
        if size == 0:
            return b""
        data = self._source.read(size)
        if self._left is not None:
            self._left -= len(data)
        return data

    def _next_member(self, rest: bytes) -> None:
        """After one gzip member: another member follows (RFC 1952 allows several), or
        trailing bytes some reporters add (Mimecast appends a CRLF), which are ignored."""
        if self._wbits < 0:  # raw deflate in a zip: the member ends here
            self._finish()
            return
        rest += self._source.read(_CHUNK) if len(rest) < 2 else b""
        if rest.startswith(GZIP_MAGIC):
            self._inflater = zlib.decompressobj(self._wbits)
            self._pending = rest
            return
        trailing = len(rest)
        while chunk := self._source.read(_CHUNK):
            trailing += len(chunk)
        if trailing:
            self.repairs.append(f"ignored {trailing} bytes after the end of the gzip data")
        self._done = True

    def _finish(self) -> None:
        self._done = True
        if self._crc_expected is not None and self._crc != self._crc_expected:
            raise ContainerError(f"{self._what}: CRC mismatch (corrupt archive)")

    def _count(self, out: bytes) -> None:
        self._produced += len(out)
        if self._crc_expected is not None:
            self._crc = zlib.crc32(out, self._crc)
        limits = self._limits
        if self._produced > limits.max_bytes:
            raise TooLargeError(
                f"{self._what}: more than {limits.max_bytes} bytes once decompressed (refused)"
            )
        if self._produced >= limits.ratio_floor and self._produced > limits.max_ratio * max(
            self._consumed, 1
        ):
            raise TooLargeError(
                f"{self._what}: compression ratio above {limits.max_ratio}:1 "
                "(a compression bomb?); refused"
            )

    def close(self) -> None:
        try:
            self._source.close()
        finally:
            super().close()


class _Stored(io.RawIOBase):
    """A stored (uncompressed) zip member: ``size`` bytes of ``source``."""

    def __init__(self, source: BinaryIO, size: int, crc: int, what: str) -> None:
        self._source = source
        self._left = size
        self._crc_expected = crc
        self._crc = 0
        self._what = what
        self.repairs: list[str] = []

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        n = self._left if size is None or size < 0 else min(size, self._left)
        data = self._source.read(n) if n else b""
        self._left -= len(data)
        self._crc = zlib.crc32(data, self._crc)
        if n and not data:
            raise ContainerError(f"truncated {self._what} data")
        if not self._left and self._crc != self._crc_expected:
            raise ContainerError(f"{self._what}: CRC mismatch (corrupt archive)")
        return data

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        try:
            self._source.close()
        finally:
            super().close()


def open_gzip(source: BinaryIO, limits: Limits, what: str = "gzip") -> _Inflating:
    """The decompressed stream of a gzip file (one or more members)."""
    return _Inflating(source, limits, wbits=16 + zlib.MAX_WBITS, what=what)


def zip_members(archive: zipfile.ZipFile, limits: Limits) -> list[zipfile.ZipInfo]:
    """The files of a zip (directories skipped), refused when there are too many."""
    members = [info for info in archive.infolist() if not info.is_dir()]
    if len(members) > limits.max_members:
        raise TooLargeError(f"zip holds {len(members)} files (more than {limits.max_members})")
    return members


def open_zip_member(raw: BinaryIO, info: zipfile.ZipInfo, limits: Limits) -> _Inflating | _Stored:
    """The decompressed stream of one zip member, read from ``raw`` (the archive file, which
    this stream then owns and closes).

    zipfile's own reader cannot tell how much compressed input it consumed, which the ratio
    cap needs, so deflated members are inflated here from their local header on.
    """
    what = f"zip member {info.filename!r}"
    if info.flag_bits & 0x1:
        raise ContainerError(f"{what} is encrypted")
    raw.seek(info.header_offset)
    header = raw.read(30)
    if len(header) != 30 or header[:4] != ZIP_MAGIC:
        raise ContainerError(f"{what}: bad local header (corrupt zip)")
    name_length, extra_length = struct.unpack("<HH", header[26:30])
    raw.seek(info.header_offset + 30 + name_length + extra_length)
    if info.compress_type == zipfile.ZIP_DEFLATED:
        return _Inflating(
            raw,
            limits,
            wbits=-zlib.MAX_WBITS,
            what=what,
            compressed_size=info.compress_size,
            crc=info.CRC,
        )
    if info.compress_type == zipfile.ZIP_STORED:
        if info.file_size > limits.max_bytes:
            raise TooLargeError(f"{what}: more than {limits.max_bytes} bytes (refused)")
        return _Stored(raw, info.file_size, info.CRC, what)
    raise ContainerError(f"{what}: unsupported compression method {info.compress_type}")
