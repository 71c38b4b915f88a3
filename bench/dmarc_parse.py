"""Benchmark: DMARC aggregate reports parsed and stored (docs/benchmarks-dmarc.md).

* the shared corpus (every aggregate sample; ``--corpus``): parse only, and parse + store
  into a fresh SQLite store, best of ``--repeat`` runs;
* a generated report of ``--records`` records (Google-like: one record per source IP,
  DKIM and SPF results, most passing) written to a temporary file: parse only, and parse +
  store into a fresh SQLite store;
* peak memory (the child process's maximum RSS; the parser's imports only) parsing a
  generated report of about ``--large-mb`` MB, produced while it is read (no disk), unless
  ``--large-mb 0``.

    .venv/bin/python bench/dmarc_parse.py --records 100000 --large-mb 1024
"""

from __future__ import annotations

import argparse
import io
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


def corpus(repeat: int) -> None:
    from deliverwatch.dmarc.importer import import_paths
    from deliverwatch.store import open_store

    files = sorted(p for p in CORPUS.rglob("*") if p.is_file() and p.suffix != ".md")
    records = sum(parse_only(p)[0] for p in files)
    parse = best(repeat, lambda: [parse_only(p) for p in files])

    def store() -> None:
        with tempfile.TemporaryDirectory() as folder:
            engine = open_store(f"sqlite:///{folder}/dw.db")
            for _ in import_paths(engine, [CORPUS]):
                pass
            engine.dispose()

    stored = best(repeat, store)
    print(f"corpus: {len(files)} files, {records} records")
    print(f"  parse only      {parse:8.3f} s  {records / parse:10,.0f} records/s")
    print(f"  parse + store   {stored:8.3f} s  {records / stored:10,.0f} records/s (SQLite)")


def generated(records: int, repeat: int) -> None:
    from deliverwatch.dmarc.importer import import_paths
    from deliverwatch.store import open_store

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "report.xml"
        with path.open("wb") as out:
            for chunk in generate(records):
                out.write(chunk)
        size = path.stat().st_size
        parse = best(repeat, lambda: parse_only(path))

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
    print(f"generated: {records:,} records, {size / 1e6:.1f} MB")
    print(f"  parse only      {parse:8.3f} s  {records / parse:10,.0f} records/s")
    print(f"  parse + store   {stored:8.3f} s  {records / stored:10,.0f} records/s (SQLite)")


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
    parser.add_argument("--child-large", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--child-baseline", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child_large:
        large_child(args.child_large)
        return
    if args.child_baseline:
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
        return
    print(f"python {sys.version.split()[0]}")
    if CORPUS.is_dir():
        corpus(args.repeat)
    generated(args.records, args.repeat)
    if args.large_mb:
        large(args.large_mb)


if __name__ == "__main__":
    main()
