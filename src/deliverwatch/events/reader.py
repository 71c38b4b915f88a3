"""The child process that reads a file for ``store.bulk.insert_file``: a file, or a byte range
of it, read by its provider and made into batches of rows (``events.rows``), sent to the
parent through a pipe.

Started as ``python -m deliverwatch.events.reader FD`` rather than by ``multiprocessing``:
its spawn would first import the parent's main module in the child (for the CLI, the whole
command line and configuration: more than a second), only to run this. Outside the ``store``
package on purpose: the child imports neither SQLAlchemy nor the migrations.
"""

from __future__ import annotations

import gc
import pickle
import sys
import traceback
from multiprocessing.connection import Connection as Pipe
from typing import IO, BinaryIO, NamedTuple, cast

from deliverwatch.events.providers import get_provider
from deliverwatch.events.providers.base import PayloadError, SourceSettings
from deliverwatch.events.rows import RowMaker


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
    compress: bool


def prepare_in_child(out: Pipe, job: ReadJob) -> None:
    """Read bytes ``start`` to ``end`` of the file, send their batches (SQLite rows), then
    ``("end", None)``, or the error that stopped it."""
    try:
        rows = RowMaker(job.events_from, compress=job.compress)
        with open(job.path, "rb") as stream:
            stream.seek(job.start)
            part = cast(IO[bytes], _Range(stream, job.end - job.start))
            events = get_provider(job.provider).iter_file(part, job.source)
            for batch in rows.batches(events, job.batch_size):
                out.send(("batch", batch))
        out.send(("end", None))
    except PayloadError as exc:
        out.send(("payload", exc.reason))
    except OSError as exc:
        out.send(("os", f"{job.path}: {exc.strerror or exc}"))
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


def main(argv: list[str]) -> None:
    """``FD``: the inherited pipe to send batches to; the job comes pickled on stdin, from
    the parent that started this process (nothing else writes there)."""
    # A plain tuple: run with -m, this module is __main__, and its ReadJob is not the
    # parent's deliverwatch.events.reader.ReadJob.
    job = ReadJob(*pickle.load(sys.stdin.buffer))  # noqa: S301  (our parent's own job)
    gc.set_threshold(50_000, 20, 100)  # a process of its own that makes millions of tuples
    prepare_in_child(Pipe(int(argv[0]), readable=False), job)


if __name__ == "__main__":
    main(sys.argv[1:])
