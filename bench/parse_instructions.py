"""Instructions an event of the SendGrid path costs, counted under valgrind's cachegrind.

Timings on a shared VM move by 20% from run to run; instruction counts of the same code move
by 0.1%, so a change of a few percent to parsing shows here when no timing can show it. Each
phase runs in a process of its own under ``valgrind --tool=cachegrind``; its count minus that
of a process that only sets up (the same items loaded, one request parsed to warm the caches)
is divided by the number of events. The items are the first ``--events`` of the standard
SendGrid file of ``ingest_file.py``:

* ``parse``: ``SendGrid.parse`` of webhook bodies of 500 items (JSON decoding included);
* ``prepare``: ``RowMaker.prepare`` of those events (rows, rollup counts, raw block);
* ``json``: the JSON decoding alone;
* ``insert``: ``EventWriter.write`` of those rows into a new SQLite store (the driver's
  ``executemany``, rollups, markers, suppressions; the transaction's commit is counted too);
* ``reader``: a file reader process's whole work (``events.reader.prepare_in_child``) on the
  file's first lines holding ``--events`` events: reading and splitting lines, JSON, the
  provider's parsing, rows, the compressed raw block and the batch as marshal data, sent
  into a pipe that is drained. With ``--format generic`` the standard generic file
  instead (JSON lines without event ids: each id a hash of the record).

    .venv/bin/python bench/parse_instructions.py                 # 5,000 events, this tree
    .venv/bin/python bench/parse_instructions.py --src /path/to/other/checkout/src
    .venv/bin/python bench/parse_instructions.py --phases insert
    .venv/bin/python bench/parse_instructions.py --phases reader --format generic

Needs valgrind (Debian: ``apt-get install valgrind``); about 20 s a phase. The counts are of
the code as that tree runs it: its compiled modules where it has them (setup.py; the first
line printed says which), its plain ones with ``DELIVERWATCH_PURE_PYTHON=1``.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PHASES = ("parse", "prepare", "json", "insert", "reader")


def reader_child(phase: str, path: Path, count: int, provider: str) -> None:
    """The measured process of the ``reader`` phase (``reader-none``: only the set-up, and a
    reader's work on a few other lines to warm it up)."""
    import orjson

    from deliverwatch import gcpace
    from deliverwatch.events.providers import get_provider
    from deliverwatch.events.providers.base import SourceSettings
    from deliverwatch.events.reader import ReadJob, prepare_in_child

    lines, found = [], 0
    with path.open("rb") as stream:
        for line in stream:
            value = orjson.loads(line)
            found += len(value) if isinstance(value, list) else 1
            lines.append(line)
            if found >= count:
                break
        spare = [next(stream) for _ in range(3)]
    source = SourceSettings(name=f"file:{provider}", provider=provider, sending_domain="shop.test")
    get_provider(provider)
    gcpace.settle()  # as a reader process does

    class Drain:
        """The pipe's sending end: what a reader sends, dropped."""

        def send_bytes(self, data: bytes) -> None:
            pass

        def close(self) -> None:
            pass

    def work(data: bytes) -> None:
        with tempfile.NamedTemporaryFile(suffix=".json") as part:
            part.write(data)
            part.flush()
            job = ReadJob(provider, source, part.name, 0, len(data), None, 10_000)
            prepare_in_child(Drain(), job)  # type: ignore[arg-type]

    work(b"".join(spare))
    if phase == "reader":
        work(b"".join(lines))
    print(f"events {found}", file=sys.stderr)


def child(phase: str, path: Path, count: int) -> None:
    """The measured process: set up, then run ``phase`` (``none``: nothing more)."""
    import gc

    import orjson

    from deliverwatch.events.providers import get_provider
    from deliverwatch.events.providers.base import SourceSettings, WebhookRequest
    from deliverwatch.events.providers.jsonstream import iter_chunks, iter_json_items
    from deliverwatch.events.rows import RowMaker
    from deliverwatch.store import open_store
    from deliverwatch.store.engine import begin_write
    from deliverwatch.store.events import EventWriter

    source = SourceSettings(name="file:sendgrid", provider="sendgrid", sending_domain="shop.test")
    provider = get_provider("sendgrid")
    items = []
    with path.open("rb") as stream:
        for _, _, item in iter_json_items(iter_chunks(stream)):
            items.append(item)
            if len(items) == count + 10:
                break
    spare, items = items[count:], items[:count]  # the spare ones warm the store up
    bodies = [orjson.dumps(items[i : i + 500]) for i in range(0, len(items), 500)]
    requests = [
        WebhookRequest(body=b, headers={}, url="", content_type="application/json") for b in bodies
    ]
    gc.disable()
    for request in requests[:2]:  # first-use costs (lazy imports, the public suffix list)
        provider.parse(request, source)
    events = [event for request in requests for event in provider.parse(request, source).events]
    RowMaker(None).prepare(events[:10])
    spare_events = provider.parse(WebhookRequest(orjson.dumps(spare), {}, "", ""), source).events
    with tempfile.TemporaryDirectory(prefix="dw-instr-store-") as tmp:
        engine = open_store(f"sqlite:///{tmp}/store.db")
        with begin_write(engine) as conn:
            writer = EventWriter(conn)
            writer.write(writer.rows.prepare(spare_events))  # statements compiled, pages cached
            rows = writer.rows.prepare(events)
            run(phase, provider, source, requests, events, bodies, writer, rows)
        engine.dispose()


def run(
    phase: str,
    provider: Any,
    source: Any,
    requests: list[Any],
    events: list[Any],
    bodies: list[bytes],
    writer: Any,
    rows: Any,
) -> None:
    import orjson

    from deliverwatch.events.rows import RowMaker

    if phase == "parse":
        for request in requests:
            provider.parse(request, source)
    elif phase == "prepare":
        RowMaker(None).prepare(events)
    elif phase == "json":
        for body in bodies:
            orjson.loads(body)
    elif phase == "insert":
        writer.write(rows)


def instructions(src: Path, phase: str, path: Path, count: int, fmt: str = "sendgrid") -> int:
    return counted(src, phase, path, count, fmt)[0]


def counted(src: Path, phase: str, path: Path, count: int, fmt: str) -> tuple[int, int]:
    """(instructions, events) of a child's run: the events it reported, else ``count``."""
    command = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]
    command += [sys.executable, __file__, "--child", phase, "--file", str(path)]
    command += ["--events", str(count), "--format", fmt]
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(src), "PYTHONHASHSEED": "0"},  # steady counts
        check=True,
    )
    found = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if found is None:
        raise RuntimeError(done.stderr[-2000:])
    events = re.search(r"^events (\d+)$", done.stderr, re.MULTILINE)
    return int(found[1].replace(",", "")), int(events[1]) if events else count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=ROOT / "src", help="the code to count")
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--phases", default=",".join(PHASES), help=",".join(PHASES))
    parser.add_argument("--format", choices=["sendgrid", "generic"], default="sendgrid")
    parser.add_argument("--child", choices=["none", "reader-none", *PHASES], help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.child.startswith("reader"):
            reader_child(args.child, args.file, args.events, args.format)
        else:
            child(args.child, args.file, args.events)
        return
    phases = args.phases.split(",")
    if args.format != "sendgrid" and phases != ["reader"]:
        parser.error("--format generic counts the reader only: add --phases reader")
    sys.path.insert(0, str(ROOT / "bench"))
    from ingest_file import generate

    described = subprocess.run(
        [sys.executable, "-c", "from deliverwatch import native; print(native.describe())"],
        env={**os.environ, "PYTHONPATH": str(args.src)},
        capture_output=True,
        text=True,
    )
    # A checkout from before the compiled modules has no deliverwatch.native.
    print(f"{args.src}: {described.stdout.strip() or 'plain Python modules'}")

    with tempfile.TemporaryDirectory(prefix="dw-instr-") as tmp:
        path = Path(tmp) / f"{args.format}.json"
        generate(path, args.format, events=200_000)  # the standard file of ingest_file.py
        base = None
        for phase in phases:
            if phase == "reader":
                start, _ = counted(args.src, "reader-none", path, args.events, args.format)
                spent, events = counted(args.src, "reader", path, args.events, args.format)
                per = (spent - start) / events
            else:
                if base is None:
                    base = instructions(args.src, "none", path, args.events)
                per = (instructions(args.src, phase, path, args.events) - base) / args.events
            print(f"{phase:8s} {per:10,.0f} instructions an event")


if __name__ == "__main__":
    main()
