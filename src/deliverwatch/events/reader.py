"""The child process that reads a file for ``store.bulk.insert_file``: a file, or a byte range
of it, read by its provider and made into batches of rows (``events.rows``), sent to the
parent through a pipe. Outside the ``store`` package on purpose: the child imports neither
SQLAlchemy nor the migrations, and starts in about a third of a second.
"""

from __future__ import annotations

import traceback
from multiprocessing.connection import Connection as Pipe
from typing import IO, BinaryIO, cast

from deliverwatch.events.providers import get_provider
from deliverwatch.events.providers.base import PayloadError, SourceSettings
from deliverwatch.events.rows import RowMaker


def prepare_in_child(
    out: Pipe,
    provider: str,
    source: SourceSettings,
    path: str,
    start: int,
    end: int,
    events_from: int | None,
    batch_size: int,
) -> None:
    """Read bytes ``start`` to ``end`` of the file, send their batches (SQLite rows), then
    ``("end", None)``, or the error that stopped it."""
    try:
        rows = RowMaker(events_from)
        with open(path, "rb") as stream:
            stream.seek(start)
            part = cast(IO[bytes], _Range(stream, end - start))
            for batch in rows.batches(get_provider(provider).iter_file(part, source), batch_size):
                out.send(("batch", batch))
        out.send(("end", None))
    except PayloadError as exc:
        out.send(("payload", exc.reason))
    except OSError as exc:
        out.send(("os", f"{path}: {exc.strerror or exc}"))
    except BaseException:  # reported to the parent, which raises it
        out.send(("crash", traceback.format_exc()))
    finally:
        out.close()


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
