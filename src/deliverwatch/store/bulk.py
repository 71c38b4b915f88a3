"""Importing a big file on every core: child processes read, parse and prepare batches of
rows while this one stores them.

A file ingest is about half parsing (JSON, building events, making rows) and half storing
(the database's inserts, rollups, markers). In one process the two take turns; here they
overlap. Each child is at most one batch ahead (it blocks sending the next batch until this
process has taken the last one), so memory stays bounded. A child gets the provider, the
source settings, the path and its byte range, and opens the file itself; nothing it reads is
trusted more than in one process, and it never touches the store.

With two readers, each reads half of the file. The halves meet at a line break between two
lines that are each a whole JSON value (JSON lines, or a log of webhook bodies); a file that
has no such place near its middle (one pretty-printed array, CSV) is read by one child.
Order does not matter to the store (duplicates, first opens and suppressions are resolved
whatever the order), but error messages do: if a reader of a split file fails, the work is
rolled back to a savepoint and the file read again by one child, so the error names the
item and line as a single reader would.

A child costs an interpreter start (about 0.4 s); files under :data:`PARALLEL_MIN_BYTES` are
read in this process.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from collections.abc import Iterator
from itertools import pairwise
from multiprocessing.connection import Connection as Pipe
from multiprocessing.connection import wait
from pathlib import Path
from typing import BinaryIO

import orjson
from sqlalchemy.engine import Connection

from deliverwatch.events.providers import get_provider
from deliverwatch.events.providers.base import PayloadError, SourceSettings
from deliverwatch.events.providers.jsonstream import FAST_LINE
from deliverwatch.events.reader import ReadJob
from deliverwatch.events.rows import BATCH_SIZE, Batch, sqlite_time
from deliverwatch.store.events import EventWriter, InsertResult

#: Smaller files are read in this process: a child would cost more than it saves.
PARALLEL_MIN_BYTES = 4 << 20


def default_readers(conn: Connection, size: int) -> int:
    """Child processes for a file of ``size`` bytes: none on PostgreSQL (the server does its
    share of the work in its own processes already) or for a small file, else one per core
    beyond this process's, at most two (the store, in this process, keeps up with about
    two). Measured on two cores: a second reader gains nothing, the three processes share
    the two cores (docs/benchmarks-events.md)."""
    cores = os.cpu_count() or 1
    if conn.dialect.name != "sqlite" or size < PARALLEL_MIN_BYTES or cores < 2:
        return 0
    return 2


def insert_file(
    conn: Connection,
    provider: str,
    source: SourceSettings,
    path: Path,
    *,
    readers: int | None = None,
    batch_size: int = BATCH_SIZE,
) -> InsertResult:
    """Store the events of the file at ``path`` (as ``provider.iter_file`` reads it) in the
    caller's transaction, like ``insert_events``. ``readers``: child processes that read it
    (0: read in this process; default: :func:`default_readers`). Raises OSError when the
    file cannot be read, PayloadError for a bad item."""
    writer = EventWriter(conn)
    with path.open("rb") as stream:  # errors about the file come from here, before any child
        size = os.fstat(stream.fileno()).st_size
        if readers is None:
            readers = default_readers(conn, size)
        if readers and writer.rows.time is not sqlite_time:
            raise ValueError("a file is read in child processes only for SQLite")
        if not readers:
            events = get_provider(provider).iter_file(stream, source)
            return writer.write_all(writer.rows.batches(events, batch_size))
        ranges = split_ranges(stream, size, readers)
    events_from = writer.horizons.events_from
    if len(ranges) > 1:
        savepoint = conn.begin_nested()
        try:
            result = writer.write_all(
                _child_batches(provider, source, path, ranges, events_from, batch_size)
            )
        except (PayloadError, OSError, RuntimeError):
            savepoint.rollback()
            writer = EventWriter(conn)  # its caches name rows the rollback removed
        else:
            savepoint.commit()
            return result
    whole = [(0, size)]
    return writer.write_all(_child_batches(provider, source, path, whole, events_from, batch_size))


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


def _child_batches(
    provider: str,
    source: SourceSettings,
    path: Path,
    ranges: list[tuple[int, int]],
    events_from: int | None,
    batch_size: int,
) -> Iterator[Batch]:
    """The batches the children prepare, each as it comes; stops the children if the
    consumer stops."""
    children: dict[Pipe, subprocess.Popen[bytes]] = {}
    try:
        for start, end in ranges:
            job = ReadJob(provider, source, str(path), start, end, events_from, batch_size, True)
            receiving, child = _start_reader(job)
            children[receiving] = child
        open_pipes = list(children)
        while open_pipes:
            for ready in wait(open_pipes):
                assert isinstance(ready, Pipe)
                try:
                    kind, value = ready.recv()
                except EOFError:
                    code = children[ready].wait()
                    raise RuntimeError(
                        f"a file reader process ended unexpectedly (exit code {code})"
                    ) from None
                if kind == "batch":
                    yield value
                elif kind == "end":
                    open_pipes.remove(ready)
                elif kind == "payload":
                    raise PayloadError(value)
                elif kind == "os":
                    raise OSError(value)
                else:
                    raise RuntimeError(f"a file reader process failed:\n{value}")
    finally:
        for receiving, child in children.items():
            receiving.close()
            if child.poll() is None:
                child.terminate()
            child.wait()


def _start_reader(job: ReadJob) -> tuple[Pipe, subprocess.Popen[bytes]]:
    """A reader process (``events.reader``) and the pipe it sends its batches on."""
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
