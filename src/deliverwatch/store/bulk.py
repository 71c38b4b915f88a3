"""Importing a big file on every core: child processes read, parse and prepare batches of
rows while this one stores them (the readers: ``events.reader``).

A file ingest is about half parsing (JSON, building events, making rows) and half storing
(the database's inserts, rollups, markers). In one process the two take turns; here they
overlap. Order does not matter to the store (duplicates, first opens and suppressions are
resolved whatever the order), but error messages do: if a reader of a split file fails, the
work is rolled back to a savepoint and the file read again by one reader, so the error names
the item and line as a single reader would.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.engine import Connection

from deliverwatch.events.providers import get_provider
from deliverwatch.events.providers.base import PayloadError, SourceSettings
from deliverwatch.events.reader import FileReading, reader_count
from deliverwatch.events.reader import split_ranges as split_ranges
from deliverwatch.events.rows import BATCH_SIZE, sqlite_time
from deliverwatch.store.events import EventWriter, InsertResult


def default_readers(conn: Connection, size: int) -> int:
    """Reader processes for a file of ``size`` bytes (``events.reader.reader_count``)."""
    return reader_count(conn.dialect.name, size)


def insert_file(
    conn: Connection,
    provider: str,
    source: SourceSettings,
    path: Path,
    *,
    readers: int | None = None,
    batch_size: int = BATCH_SIZE,
    reading: FileReading | None = None,
) -> InsertResult:
    """Store the events of the file at ``path`` (as ``provider.iter_file`` reads it) in the
    caller's transaction, like ``insert_events``. ``readers``: child processes that read it
    (0: read in this process; default: :func:`default_readers`). ``reading``: readers started
    earlier for this file (``events.reader.start_early``), used if the store's raw-event
    horizon is the one they were given, else stopped. Raises OSError when the file cannot be
    read, PayloadError for a bad item."""
    try:
        return _insert_file(conn, provider, source, path, readers, batch_size, reading)
    finally:
        if reading is not None:
            reading.close()  # whatever happened: no reader outlives the call


def _insert_file(
    conn: Connection,
    provider: str,
    source: SourceSettings,
    path: Path,
    readers: int | None,
    batch_size: int,
    reading: FileReading | None,
) -> InsertResult:
    writer = EventWriter(conn)
    events_from = writer.horizons.events_from
    if reading is not None and (
        reading.events_from != events_from or writer.rows.time is not sqlite_time
    ):
        reading.close()  # made for another horizon: read again
        reading = None
    if reading is None:
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
        reading = FileReading(provider, source, path, ranges, events_from, batch_size)
    if len(reading.ranges) > 1:
        savepoint = conn.begin_nested()
        try:
            result = writer.write_all(reading.batches())
        except (PayloadError, OSError, RuntimeError):
            savepoint.rollback()
            writer = EventWriter(conn)  # its caches name rows the rollback removed
        else:
            savepoint.commit()
            return result
        whole = [(0, reading.ranges[-1][1])]
        reading = FileReading(provider, source, path, whole, events_from, reading.batch_size)
    with reading:
        return writer.write_all(reading.batches())
