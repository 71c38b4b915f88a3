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
  ``executemany``, rollups, markers, suppressions; the transaction's commit is counted too).

    .venv/bin/python bench/parse_instructions.py                 # 5,000 events, this tree
    .venv/bin/python bench/parse_instructions.py --src /path/to/other/checkout/src
    .venv/bin/python bench/parse_instructions.py --phases insert

Needs valgrind (Debian: ``apt-get install valgrind``); about 20 s a phase.
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
PHASES = ("parse", "prepare", "json", "insert")


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


def instructions(src: Path, phase: str, path: Path, count: int) -> int:
    command = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null"]
    command += [
        sys.executable,
        __file__,
        "--child",
        phase,
        "--file",
        str(path),
        "--events",
        str(count),
    ]
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
    return int(found[1].replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=ROOT / "src", help="the code to count")
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--phases", default=",".join(PHASES), help=",".join(PHASES))
    parser.add_argument("--child", choices=["none", *PHASES], help=argparse.SUPPRESS)
    parser.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.file, args.events)
        return
    sys.path.insert(0, str(ROOT / "bench"))
    from ingest_file import generate

    with tempfile.TemporaryDirectory(prefix="dw-instr-") as tmp:
        path = Path(tmp) / "sendgrid.json"
        generate(path, "sendgrid", events=200_000)  # the standard file of ingest_file.py
        base = instructions(args.src, "none", path, args.events)
        for phase in args.phases.split(","):
            spent = instructions(args.src, phase, path, args.events) - base
            print(f"{phase:8s} {spent / args.events:10,.0f} instructions an event")


if __name__ == "__main__":
    main()
