"""Shared test helpers: where the report corpus is, and a generator of aggregate reports."""

from __future__ import annotations

import io
import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: The shared corpus of real reports (``../shared/corpus/dmarc-reports`` next to the repo);
#: ``DELIVERWATCH_DMARC_CORPUS`` points elsewhere.
CORPUS = Path(
    os.environ.get("DELIVERWATCH_DMARC_CORPUS", ROOT.parent / "shared" / "corpus" / "dmarc-reports")
)
needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason=f"no report corpus at {CORPUS}")

HEADER = """<?xml version="1.0" encoding="UTF-8"?>
<feedback>
  <version>1.0</version>
  <report_metadata>
    <org_name>{org}</org_name>
    <email>noreply-dmarc@{org}</email>
    <report_id>{report_id}</report_id>
    <date_range>
      <begin>{begin}</begin>
      <end>{end}</end>
    </date_range>
  </report_metadata>
  <policy_published>
    <domain>{domain}</domain>
    <adkim>r</adkim>
    <aspf>r</aspf>
    <p>none</p>
    <sp>none</sp>
    <pct>100</pct>
  </policy_published>
"""
RECORD = """  <record>
    <row>
      <source_ip>{ip}</source_ip>
      <count>{count}</count>
      <policy_evaluated>
        <disposition>{disposition}</disposition>
        <dkim>{dkim}</dkim>
        <spf>{spf}</spf>
      </policy_evaluated>
    </row>
    <identifiers>
      <header_from>{domain}</header_from>
    </identifiers>
    <auth_results>
      <dkim>
        <domain>{domain}</domain>
        <selector>s1</selector>
        <result>{dkim}</result>
      </dkim>
      <spf>
        <domain>{domain}</domain>
        <scope>mfrom</scope>
        <result>{spf}</result>
      </spf>
    </auth_results>
  </record>
"""
FOOTER = "</feedback>\n"


def report_xml(
    records: list[dict[str, object]],
    *,
    org: str = "reporter.test",
    report_id: str = "r1",
    domain: str = "example.test",
    begin: int = 1_700_006_400,
    end: int = 1_700_092_799,
) -> bytes:
    """A report with the given records (keys: ip, count, disposition, dkim, spf)."""
    parts = [HEADER.format(org=org, report_id=report_id, begin=begin, end=end, domain=domain)]
    for record in records:
        values = {"disposition": "none", "dkim": "pass", "spf": "pass", "domain": domain}
        values.update(record)
        parts.append(RECORD.format(**values))
    parts.append(FOOTER)
    return "".join(parts).encode()


def random_record(rng: random.Random) -> dict[str, object]:
    octets = (rng.randint(1, 223), rng.randint(0, 255), rng.randint(0, 255), rng.randint(1, 254))
    return {
        "ip": ".".join(map(str, octets)),
        "count": rng.randint(1, 50),
        "dkim": rng.choice(("pass", "fail")),
        "spf": rng.choice(("pass", "fail")),
        "disposition": rng.choice(("none", "none", "quarantine")),
    }


class GeneratedReport(io.RawIOBase):
    """A report of ``records`` random records produced while it is read: a huge report
    without the memory (or disk) to hold it."""

    def __init__(self, records: int, seed: int = 1, **header: object) -> None:
        self._chunks = self._generate(records, seed, header)
        self._buffer = b""
        self.size = 0

    def _generate(self, records: int, seed: int, header: dict[str, object]) -> Iterator[bytes]:
        rng = random.Random(seed)
        yield report_xml([], **header)[: -len(FOOTER)]  # type: ignore[arg-type]
        batch: list[str] = []
        for _ in range(records):
            values = {"disposition": "none", "domain": header.get("domain", "example.test")}
            values.update(random_record(rng))
            batch.append(RECORD.format(**values))
            if len(batch) == 1000:
                yield "".join(batch).encode()
                batch = []
        yield ("".join(batch) + FOOTER).encode()

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
