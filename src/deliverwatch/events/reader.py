"""Reading a big file in child processes: each reads a byte range, parses it with its provider,
makes batches of rows (``events.rows``) and sends them to the parent through a pipe, while the
parent stores them (``store.bulk.insert_file``).

Both sides are here, and neither imports SQLAlchemy, so the command line can start the readers
before it imports the store (a third of a second it no longer waits for). A reader is started
as ``python -m deliverwatch.events.reader FD`` rather than by ``multiprocessing``, whose spawn
would first import the parent's main module in the child (for the command line, the whole CLI
and configuration: more than a second) only to run this.

A reader runs ahead of the parent by at most :data:`AHEAD` batches, so memory stays bounded. It
gets the provider, the source settings, the path, its byte range and the raw-event horizon;
nothing it reads is trusted more than in one process, and it never touches the store.

With two readers, each reads half of the file. The halves meet at a line break between two
lines that are each a whole JSON value (JSON lines, or a log of webhook bodies); a file with no
such place near its middle (one pretty-printed array, CSV) is read by one reader.
"""

from __future__ import annotations

import contextlib
import gc
import marshal
import os
import pickle
import queue
import sqlite3
import subprocess
import sys
import threading
import traceback
from collections.abc import Iterator
from itertools import pairwise
from multiprocessing.connection import Connection as Pipe
from multiprocessing.connection import wait
from pathlib import Path
from typing import IO, Any, BinaryIO, NamedTuple, cast

import orjson

from deliverwatch import gcpace
from deliverwatch.events.providers import get_provider
from deliverwatch.events.providers.base import PayloadError, SourceSettings
from deliverwatch.events.providers.jsonstream import FAST_LINE
from deliverwatch.events.rows import BATCH_SIZE, Batch, RowMaker

#: Smaller files are read in the parent: a reader costs an interpreter start (~0.3 s).
PARALLEL_MIN_BYTES = 4 << 20
#: Batches a reader makes before the parent has taken the previous ones.
AHEAD = 2
#: Readers yield the cores to the storing parent. At equal priority the parent got a third
#: of the two cores, fell behind, and was left alone with the readers' last batches once they
#: were done: 0.43–0.96 s with one core idle on the standard SendGrid file, against
#: 0.10–0.30 s (docs/benchmarks-events.md, session 8). The readers still take all the time
#: the parent leaves.
READER_NICENESS = 10
#: The ``store_meta`` key of the raw-event horizon (``store.rollups.EVENTS_FROM``; a test
#: checks they agree).
EVENTS_FROM_KEY = "events_from"


def reader_count(dialect: str, size: int) -> int:
    """Readers for a file of ``size`` bytes: none on PostgreSQL (the server does its share of
    the work in its own processes) or for a small file, else two. Measured on two cores, two
    readers and the storing parent share the cores better than one reader
    (docs/benchmarks-events.md)."""
    if dialect != "sqlite" or size < PARALLEL_MIN_BYTES or (os.cpu_count() or 1) < 2:
        return 0
    return 2


class ReadJob(NamedTuple):
    """What the parent asks of a reader (pickled to its stdin as a tuple: the source may
    hold secrets, which do not belong on a command line)."""

    provider: str
    source: SourceSettings
    path: str
    start: int
    end: int
    events_from: int | None
    batch_size: int


class FileReading:
    """Readers at work on one file: started at once, their batches taken by :meth:`batches`.

    ``events_from``: the horizon the rows are made with; the store must still have it when
    they are stored (``store.bulk.insert_file`` checks, and reads again if not)."""

    def __init__(
        self,
        provider: str,
        source: SourceSettings,
        path: Path,
        ranges: list[tuple[int, int]],
        events_from: int | None,
        batch_size: int = BATCH_SIZE,
    ) -> None:
        self.provider, self.source = provider, source
        self.path, self.ranges, self.events_from = path, ranges, events_from
        self.batch_size = batch_size
        self.children: dict[Pipe, subprocess.Popen[bytes]] = {}
        try:
            for start, end in ranges:
                job = ReadJob(provider, source, str(path), start, end, events_from, batch_size)
                receiving, child = _start_reader(job)
                self.children[receiving] = child
        except BaseException:
            self.close()
            raise

    @classmethod
    def start(
        cls,
        provider: str,
        source: SourceSettings,
        path: Path,
        readers: int,
        events_from: int | None,
        batch_size: int = BATCH_SIZE,
    ) -> FileReading:
        """Readers for the file at ``path``; OSError when it cannot be read."""
        with path.open("rb") as stream:
            ranges = split_ranges(stream, os.fstat(stream.fileno()).st_size, readers)
        return cls(provider, source, path, ranges, events_from, batch_size)

    def batches(self) -> Iterator[Batch]:
        """The batches as they come; the readers are stopped when this ends, however it
        ends. PayloadError or OSError from a reader's file, RuntimeError if one crashed."""
        try:
            open_pipes = list(self.children)
            while open_pipes:
                for ready in wait(open_pipes):
                    assert isinstance(ready, Pipe)
                    try:
                        # our own child, over its own pipe (see Batch.to_wire)
                        kind, value = marshal.loads(ready.recv_bytes())  # noqa: S302
                    except EOFError:
                        code = self.children[ready].wait()
                        raise RuntimeError(
                            f"a file reader process ended unexpectedly (exit code {code})"
                        ) from None
                    if kind == "batch":
                        yield Batch.from_wire(value)
                    elif kind == "end":
                        open_pipes.remove(ready)
                    elif kind == "payload":
                        raise PayloadError(value)
                    elif kind == "os":
                        raise OSError(value)
                    else:
                        raise RuntimeError(f"a file reader process failed:\n{value}")
        finally:
            self.close()

    def __enter__(self) -> FileReading:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the readers (they may be mid-file); idempotent."""
        for receiving, child in self.children.items():
            receiving.close()
            if child.poll() is None:
                child.terminate()
            child.wait()
        self.children.clear()


def _start_reader(job: ReadJob) -> tuple[Pipe, subprocess.Popen[bytes]]:
    """A reader process and the pipe it sends its batches on."""
    receiving, sending = os.pipe()
    try:
        child = subprocess.Popen(  # noqa: S603  (our own interpreter and module, no shell)
            [sys.executable, "-m", "deliverwatch.events.reader", str(sending)],
            stdin=subprocess.PIPE,
            pass_fds=(sending,),
        )
    except BaseException:
        os.close(receiving)
        raise
    finally:
        os.close(sending)  # the child's end: recv() then sees EOF if the child dies
    assert child.stdin is not None
    try:
        with child.stdin:
            child.stdin.write(pickle.dumps(tuple(job)))
    except BrokenPipeError:
        pass  # it died at start: recv() reports it
    return Pipe(receiving, writable=False), child


def split_ranges(stream: BinaryIO, size: int, parts: int) -> list[tuple[int, int]]:
    """``parts`` byte ranges of the file, each starting and ending at a line break between two
    whole JSON values; one range for the whole file when there is no such place (see the
    module's docstring)."""
    whole = [(0, size)]
    stream.seek(0)
    if parts < 2 or stream.read(FAST_LINE).lstrip(b"\xef\xbb\xbf \t\r\n")[:1] not in (b"{", b"["):
        return whole
    cuts: list[int] = []
    for k in range(1, parts):
        cut = _cut_near(stream, size * k // parts)
        if cut is None or (cuts and cut <= cuts[-1]):
            return whole
        cuts.append(cut)
    edges = [0, *cuts, size]
    return list(pairwise(edges))


def _cut_near(stream: BinaryIO, target: int) -> int | None:
    """The first line break after ``target`` whose lines on either side are whole values."""
    start = max(0, target - FAST_LINE)
    stream.seek(start)
    window = stream.read(3 * FAST_LINE)
    at = window.find(b"\n", target - start)
    before = window.rfind(b"\n", 0, at)
    after = window.find(b"\n", at + 1)
    if at == -1 or before == -1 or after == -1:
        return None
    for line in (window[before + 1 : at], window[at + 1 : after]):
        try:
            orjson.loads(line)
        except orjson.JSONDecodeError:
            return None
    return start + at + 1


# --- before the store is open: the command line's early start --------------------------------


def sqlite_file(url: str) -> Path | None:
    """The database file of a plain ``sqlite:///PATH`` URL; None for anything else (another
    database, an in-memory one, URL options)."""
    for prefix in ("sqlite:///", "sqlite+pysqlite:///"):
        if url.startswith(prefix):
            rest = url.removeprefix(prefix)
            if rest and rest != ":memory:" and "?" not in rest:
                return Path(rest)
    return None


def peek_events_from(database: Path) -> int | None:
    """The raw-event horizon of the SQLite store at ``database``, read without SQLAlchemy and
    without a lock: a guess, which the store checks under its write lock (None when there is
    none, or no store yet)."""
    if not database.is_file():
        return None
    try:
        with sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True) as conn:
            row = conn.execute(
                "SELECT value FROM store_meta WHERE key = ?", (EVENTS_FROM_KEY,)
            ).fetchone()
    except sqlite3.Error:
        return None
    return int(row[0]) if row is not None else None


#: Readers the command line started first thing (:func:`prestart`), until ``start_early``
#: takes them: one process, one command, one file.
_prestarted: FileReading | None = None


def prestart(database_url: str, provider: str, source: SourceSettings, path: Path) -> bool:
    """:func:`start_early`, as the very first thing the command line does (``cli.prestart``):
    from a guess of the store and the source the command's arguments will make, before the
    command line and the configuration are imported (their second is the readers' head
    start). ``start_early`` hands the readers on if the command asks for the same."""
    global _prestarted
    discard_prestarted()
    _prestarted = start_early(database_url, provider, source, path)
    return _prestarted is not None


def discard_prestarted() -> None:
    """Stop readers :func:`prestart` started that no command took (it failed before)."""
    global _prestarted
    reading, _prestarted = _prestarted, None
    if reading is not None:
        reading.close()


def start_early(
    database_url: str, provider: str, source: SourceSettings, path: Path
) -> FileReading | None:
    """Readers for ``path`` started before the store is opened, when it will want them (a big
    file, a SQLite store); None otherwise, or when the file cannot be read yet (the ingest
    then reports it as usual). Readers :func:`prestart` started for the same provider,
    source and file are handed on, whatever store they guessed: ``store.bulk`` checks the
    horizon they were given under the store's lock."""
    global _prestarted
    if (reading := _prestarted) is not None:
        _prestarted = None
        if (reading.provider, reading.source, reading.path) == (provider, source, path):
            return reading
        reading.close()
    database = sqlite_file(database_url)
    try:
        size = path.stat().st_size
    except OSError:
        return None
    readers = reader_count("sqlite", size)
    if database is None or not readers:
        return None
    try:
        return FileReading.start(provider, source, path, readers, peek_events_from(database))
    except OSError:
        return None


# --- the child ------------------------------------------------------------------------------


def prepare_in_child(out: Pipe, job: ReadJob) -> None:
    """Read bytes ``start`` to ``end`` of the file, send their batches (SQLite rows, raw blocks
    compressed), then ``("end", None)``, or the error that stopped it. A thread sends while
    the next batches are made, up to :data:`AHEAD` of them."""
    outbox: queue.Queue[tuple[str, Any]] = queue.Queue(maxsize=AHEAD)
    sender = threading.Thread(target=_send_all, args=(outbox, out), daemon=True)
    sender.start()
    try:
        rows = RowMaker(job.events_from, compress=True)
        with open(job.path, "rb") as stream:
            stream.seek(job.start)
            part = cast(IO[bytes], _Range(stream, job.end - job.start))
            events = get_provider(job.provider).iter_file(part, job.source)
            for batch in rows.batches(events, job.batch_size):
                outbox.put(("batch", batch.to_wire()))
        outbox.put(("end", None))
    except PayloadError as exc:
        outbox.put(("payload", exc.reason))
    except OSError as exc:
        outbox.put(("os", f"{job.path}: {exc.strerror or exc}"))
    except BaseException:  # reported to the parent, which raises it
        outbox.put(("crash", traceback.format_exc()))
    sender.join()
    out.close()


def _send_all(outbox: queue.Queue[tuple[str, Any]], out: Pipe) -> None:
    while True:
        message = outbox.get()
        try:
            data = marshal.dumps(message)
        except ValueError:  # a value marshal cannot write: a bug here, reported as a crash
            message = ("crash", traceback.format_exc())
            data = marshal.dumps(message)
        try:
            out.send_bytes(data)
        except OSError:  # the parent is gone: nothing left to do
            os._exit(1)
        if message[0] != "batch":
            return


class _Range:
    """The next ``left`` bytes of a binary file, as a file to ``read()``."""

    def __init__(self, stream: BinaryIO, left: int) -> None:
        self.stream = stream
        self.left = left

    def read(self, size: int = -1) -> bytes:
        if size < 0 or size > self.left:
            size = self.left
        data = self.stream.read(size)
        self.left -= len(data)
        return data


def main(argv: list[str]) -> None:
    """``FD``: the inherited pipe to send batches to; the job comes pickled on stdin, from
    the parent that started this process (nothing else writes there)."""
    # A plain tuple: run with -m, this module is __main__, and its ReadJob is not the
    # parent's deliverwatch.events.reader.ReadJob.
    job = ReadJob(*pickle.load(sys.stdin.buffer))  # noqa: S301  (our parent's own job)
    gcpace.settle()  # a process of its own that makes millions of tuples
    with contextlib.suppress(OSError):
        os.nice(READER_NICENESS)
    prepare_in_child(Pipe(int(argv[0]), readable=False), job)
    gc.freeze()  # done: no collections through it all at exit (see cli._before_exit)


if __name__ == "__main__":
    main(sys.argv[1:])
