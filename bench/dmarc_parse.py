"""Benchmark: DMARC aggregate reports parsed and stored (docs/benchmarks-dmarc.md).

* the shared corpus (its aggregate samples: ``aggregate/``, ``aggregate_invalid/``,
  ``extract_report/``): parse only, and parse + store into a fresh SQLite store (its
  creation not timed), best of ``--repeat`` runs;
* a generated report of ``--records`` records (Google-like: one record per source IP,
  DKIM and SPF results, most passing) written to a temporary file: parse only, and parse +
  store into a fresh SQLite store;
* peak memory (the child process's maximum RSS; the parser's imports only) parsing a
  generated report of about ``--large-mb`` MB, produced while it is read (no disk), unless
  ``--large-mb 0``;
* with ``--parsedmarc PYTHON`` (a venv with parsedmarc installed; never a dependency of
  deliverwatch), parsedmarc in offline mode on the same corpus files and the same generated
  report, in the same run, one after the other (``parsedmarc_child.py``, timed inside its
  process after a warm-up on another report, best of ``--parsedmarc-repeat`` processes on the
  corpus, one on the generated report), and the ratios. Skipped with a message when that
  python cannot import parsedmarc.

    .venv/bin/python bench/dmarc_parse.py --records 100000 --large-mb 1024 \
        --parsedmarc /tmp/pdm/bin/python
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from deliverwatch.dmarc.aggregate import AggregateReader
from deliverwatch.dmarc.containers import Payload, iter_payloads
from deliverwatch.dmarc.errors import ReportError

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT.parent / "shared" / "corpus" / "dmarc-reports"
#: The corpus folders holding aggregate reports (failure and SMTP TLS samples are not timed).
AGGREGATE_FOLDERS = ("aggregate", "aggregate_invalid", "extract_report")

HEADER = """<?xml version="1.0" encoding="UTF-8" ?>
<feedback>
  <report_metadata>
    <org_name>google.com</org_name>
    <email>noreply-dmarc-support@google.com</email>
    <extra_contact_info>https://support.google.com/a/answer/2466580</extra_contact_info>
    <report_id>{report_id}</report_id>
    <date_range>
      <begin>1718236800</begin>
      <end>1718323199</end>
    </date_range>
  </report_metadata>
  <policy_published>
    <domain>example.com</domain>
    <adkim>r</adkim>
    <aspf>r</aspf>
    <p>none</p>
    <sp>none</sp>
    <pct>100</pct>
    <np>none</np>
  </policy_published>
"""
RECORD = """  <record>
    <row>
      <source_ip>{ip}</source_ip>
      <count>{count}</count>
      <policy_evaluated>
        <disposition>none</disposition>
        <dkim>{dkim}</dkim>
        <spf>{spf}</spf>
      </policy_evaluated>
    </row>
    <identifiers>
      <header_from>example.com</header_from>
    </identifiers>
    <auth_results>
      <dkim>
        <domain>{dkim_domain}</domain>
        <result>{dkim}</result>
        <selector>{selector}</selector>
      </dkim>
      <spf>
        <domain>{spf_domain}</domain>
        <result>{spf}</result>
      </spf>
    </auth_results>
  </record>
"""
SENDERS = [
    ("example.com", "s1", "example.com"),
    ("example.com", "google", "bounces.example.com"),
    ("sendgrid.info", "smtpapi", "em123.example.com"),
    ("amazonses.com", "ug7nbtf4gccmlpwj322ax3p6ow6yfsug", "amazonses.com"),
    ("mcsv.net", "k1", "mail180.mcsv.net"),
]


def generate(records: int, seed: int = 1, report_id: str = "1") -> Iterator[bytes]:
    rng = random.Random(seed)
    yield HEADER.format(report_id=report_id).encode()
    batch = []
    for n in range(records):
        dkim_domain, selector, spf_domain = rng.choice(SENDERS)
        batch.append(
            RECORD.format(
                ip=f"{10 + n // 65536 % 200}.{n // 256 % 256}.{n % 256}.{rng.randint(1, 254)}",
                count=rng.choice((1, 1, 1, 2, 3, 5, 8, 40)),
                dkim=rng.choice(("pass", "pass", "pass", "fail")),
                spf=rng.choice(("pass", "fail")),
                dkim_domain=dkim_domain,
                selector=selector,
                spf_domain=spf_domain,
            )
        )
        if len(batch) == 1000:
            yield "".join(batch).encode()
            batch = []
    yield ("".join(batch) + "</feedback>\n").encode()


class Generated(io.RawIOBase):
    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while len(self._buffer) < len(buffer):
            chunk = next(self._chunks, None)
            if chunk is None:
                break
            self._buffer += chunk
        n = min(len(buffer), len(self._buffer))
        buffer[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        self.size += n
        return n


def parse_only(path: Path) -> tuple[int, int]:
    records = messages = 0
    for payload in iter_payloads(path):
        if isinstance(payload, Payload) and payload.kind == "aggregate":
            try:
                with payload.open() as stream:
                    reader = AggregateReader(stream)
                    for _ in reader:
                        pass
            except ReportError:
                continue
            records += reader.record_count
            messages += reader.message_count
    return records, messages


def best(repeat: int, run: object) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()  # type: ignore[operator]
        times.append(time.perf_counter() - started)
    return min(times)


def load() -> str:
    return "load " + " ".join(f"{x:.2f}" for x in os.getloadavg())


class Parsedmarc:
    """parsedmarc run by ``parsedmarc_child.py`` under another venv's python."""

    def __init__(self, python: str, repeat: int) -> None:
        self.python = python
        self.repeat = repeat

    def available(self) -> str | None:
        """parsedmarc's version, or None (with a message) when that python lacks it."""
        if not Path(self.python).exists():
            print(f"parsedmarc: {self.python} not found: parsedmarc not measured")
            return None
        probe = subprocess.run(
            [self.python, "-c", "import parsedmarc; print(parsedmarc.__version__)"],
            capture_output=True,
            text=True,
            check=False,
        )
        if probe.returncode != 0:
            print(f"parsedmarc: {self.python} cannot import it: parsedmarc not measured")
            return None
        return probe.stdout.strip()

    def time(self, files: list[Path], repeat: int | None) -> dict[str, float]:
        """Best of ``repeat`` fresh processes, each warmed up on a one-record report of
        other IPs, then one timed pass over ``files``."""
        child = Path(__file__).with_name("parsedmarc_child.py")
        runs = []
        with tempfile.TemporaryDirectory() as folder:
            warmup = Path(folder) / "warmup.xml"
            warmup.write_bytes(b"".join(generate(1, seed=99, report_id="warmup")))
            for _ in range(repeat or self.repeat):
                out = subprocess.run(
                    [self.python, str(child), "time", "--warmup", str(warmup), *map(str, files)],
                    check=True,
                    capture_output=True,
                    text=True,
                )
                runs.append(json.loads(out.stdout))
        return min(runs, key=lambda run: float(run["seconds"]))


def report(
    records: int,
    parse: float,
    stored: float,
    loads: list[str],
    pdm: Parsedmarc | None,
    files: list[Path],
    repeat: int | None = None,
) -> None:
    print(f"  parse only      {parse:8.3f} s  {records / parse:10,.0f} records/s  ({loads[0]})")
    print(
        f"  parse + store   {stored:8.3f} s  {records / stored:10,.0f} records/s (SQLite)  "
        f"({loads[1]})"
    )
    if pdm is None:
        return
    theirs = pdm.time(files, repeat)
    seconds = theirs["seconds"]
    note = f", {theirs['failed']:.0f} files refused" if theirs["failed"] else ""
    print(
        f"  parsedmarc      {seconds:8.3f} s  {theirs['records'] / seconds:10,.0f} records/s "
        f"({theirs['records']:.0f} records{note}; {load()})"
    )
    if theirs["blocked"]:
        print(f"  parsedmarc tried the network {theirs['blocked']:.0f} times (refused)")
    print(
        f"  ours vs parsedmarc: parse only {seconds / parse:.1f}x, "
        f"parse + store {seconds / stored:.1f}x (target 10x with storing)"
    )


def corpus_files() -> list[Path]:
    return sorted(
        p for folder in AGGREGATE_FOLDERS for p in (CORPUS / folder).rglob("*") if p.is_file()
    )


def corpus(repeat: int, pdm: Parsedmarc | None) -> None:
    from deliverwatch.dmarc.importer import import_paths
    from deliverwatch.store import open_store

    files = corpus_files()
    records = sum(parse_only(p)[0] for p in files)
    parse = best(repeat, lambda: [parse_only(p) for p in files])
    loads = [load()]

    def store() -> float:
        """One import into a fresh store; creating the store is not timed (nor is it for
        the generated report, nor parsedmarc's start-up)."""
        with tempfile.TemporaryDirectory() as folder:
            engine = open_store(f"sqlite:///{folder}/dw.db")
            started = time.perf_counter()
            for _ in import_paths(engine, files):
                pass
            elapsed = time.perf_counter() - started
            engine.dispose()
            return elapsed

    stored = min(store() for _ in range(repeat))
    loads.append(load())
    print(f"corpus: {len(files)} aggregate sample files, {records} records")
    report(records, parse, stored, loads, pdm, files)


def generated(records: int, repeat: int, pdm: Parsedmarc | None) -> None:
    from deliverwatch.dmarc.importer import import_paths
    from deliverwatch.store import open_store

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "report.xml"
        with path.open("wb") as out:
            for chunk in generate(records):
                out.write(chunk)
        size = path.stat().st_size
        parse = best(repeat, lambda: parse_only(path))
        loads = [load()]

        def store() -> None:
            db = Path(folder) / "dw.db"
            for suffix in ("", "-wal", "-shm"):
                Path(f"{db}{suffix}").unlink(missing_ok=True)
            engine = open_store(f"sqlite:///{db}")
            started = time.perf_counter()
            for outcome in import_paths(engine, [path]):
                assert outcome.status == "imported", outcome
            store.elapsed = time.perf_counter() - started  # type: ignore[attr-defined]
            engine.dispose()

        times = []
        for _ in range(repeat):
            store()
            times.append(store.elapsed)  # type: ignore[attr-defined]
        stored = min(times)
        loads.append(load())
        print(f"generated: {records:,} records, {size / 1e6:.1f} MB")
        report(records, parse, stored, loads, pdm, [path], repeat=1)


def large_child(records: int) -> None:
    """Runs in a child process, so its peak RSS is the parse's alone."""
    stream = Generated(generate(records))
    started = time.perf_counter()
    reader = AggregateReader(stream)
    for _ in reader:
        pass
    elapsed = time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(reader.record_count, stream.size, elapsed, rss)


def large(megabytes: int) -> None:
    records = megabytes * 1_000_000 // 600  # about 600 bytes a record
    baseline = subprocess.run(
        [sys.executable, __file__, "--child-baseline"], check=True, capture_output=True, text=True
    ).stdout.split()
    out = subprocess.run(
        [sys.executable, __file__, "--child-large", str(records)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    count, size, seconds, rss = int(out[0]), int(out[1]), float(out[2]), int(out[3])
    print(f"large: {count:,} records, {size / 1e9:.2f} GB generated while read")
    print(f"  parse only      {seconds:8.1f} s  {count / seconds:10,.0f} records/s")
    print(
        f"  peak RSS        {rss / 1024:8.1f} MB (interpreter and imports alone: "
        f"{int(baseline[0]) / 1024:.1f} MB)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--large-mb", type=int, default=1024)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--parsedmarc",
        metavar="PYTHON",
        help="python of a venv with parsedmarc installed, to measure it side by side",
    )
    parser.add_argument(
        "--parsedmarc-repeat",
        type=int,
        default=3,
        help="runs of parsedmarc on the corpus (best counts); the generated report runs once",
    )
    parser.add_argument("--child-large", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-baseline", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_large:
        large_child(args.child_large)
        return
    if args.child_baseline:
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        return
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, {load()} at start")
    pdm = Parsedmarc(args.parsedmarc, args.parsedmarc_repeat) if args.parsedmarc else None
    if pdm is not None:
        version = pdm.available()
        if version is None:
            pdm = None
        else:
            print(f"parsedmarc {version} (offline), best of {pdm.repeat}")
    if CORPUS.is_dir():
        corpus(args.repeat, pdm)
    generated(args.records, args.repeat, pdm)
    if args.large_mb:
        large(args.large_mb)


if __name__ == "__main__":
    main()
