"""Benchmark: importing a folder of report emails with ``deliverwatch dmarc import``
(docs/benchmarks-dmarc.md).

Writes ``--emails`` ``.eml`` files into a temporary folder, as reporters send them: 90%
aggregate reports (a gzip attachment, 1 to 40 records, a dozen reporting organizations), 5%
failure reports (RFC 6591 ARF with the original's headers) and 5% SMTP TLS reports (RFC 8460
JSON, gzip). Then runs the real command line on the folder into a fresh SQLite store, twice:
the first import, and a re-import where every report is a duplicate. For each run: wall
time, emails per second, and the child process's maximum RSS.

    .venv/bin/python bench/dmarc_mailbox_import.py --emails 10000
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ORGS = [
    "google.com",
    "Outlook.com",
    "Yahoo",
    "Mail.Ru",
    "Comcast",
    "Fastmail Pty Ltd",
    "web.de",
    "GMX",
    "Mimecast",
    "Proofpoint",
    "Cisco",
    "zoho.com",
]
DAY = 86_400
START = 1_717_200_000 // DAY * DAY

RECORD = """  <record>
    <row>
      <source_ip>{ip}</source_ip>
      <count>{count}</count>
      <policy_evaluated><disposition>none</disposition><dkim>{dkim}</dkim><spf>{spf}</spf></policy_evaluated>
    </row>
    <identifiers><header_from>{domain}</header_from></identifiers>
    <auth_results>
      <dkim><domain>{domain}</domain><selector>s1</selector><result>{dkim}</result></dkim>
      <spf><domain>{domain}</domain><scope>mfrom</scope><result>{spf}</result></spf>
    </auth_results>
  </record>
"""


def aggregate(rng: random.Random, n: int) -> bytes:
    org = rng.choice(ORGS)
    domain = rng.choice(["example.com", "example.org", "news.example.com"])
    begin = START + rng.randrange(60) * DAY
    records = []
    for _ in range(rng.randint(1, 40)):
        passing = rng.random() < 0.9
        records.append(
            RECORD.format(
                ip=".".join(str(rng.randint(1, 223 if i == 0 else 254)) for i in range(4)),
                count=rng.randint(1, 200),
                dkim="pass" if passing else "fail",
                spf="pass" if passing or rng.random() < 0.3 else "fail",
                domain=domain,
            )
        )
    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<feedback>\n'
        f"  <report_metadata><org_name>{org}</org_name><email>dmarc@{org.lower()}</email>"
        f"<report_id>bench-{n}</report_id><date_range><begin>{begin}</begin>"
        f"<end>{begin + DAY - 1}</end></date_range></report_metadata>\n"
        f"  <policy_published><domain>{domain}</domain><p>none</p><pct>100</pct>"
        "</policy_published>\n" + "".join(records) + "</feedback>\n"
    )
    message = EmailMessage()
    message["From"] = f"noreply-dmarc@{org.lower().replace(' ', '')}.test"
    message["To"] = "dmarc@example.com"
    message["Subject"] = f"Report Domain: {domain} Submitter: {org} Report-ID: bench-{n}"
    message["Message-ID"] = f"<agg-{n}@bench.test>"
    message.set_content(f"This is an aggregate report from {org}.")
    name = f"{org}!{domain}!{begin}!{begin + DAY - 1}.xml.gz"
    message.add_attachment(
        gzip.compress(xml.encode(), 6), maintype="application", subtype="gzip", filename=name
    )
    return message.as_bytes()


def failure(rng: random.Random, n: int) -> bytes:
    ip = f"198.51.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
    arrival = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(START + n * 37))
    boundary = f"arf-{n}"
    return (
        f"From: dmarc-noreply@receiver.test\r\nTo: ruf@example.com\r\n"
        f"Subject: DMARC Failure Report for example.com (ip={ip})\r\n"
        f"Message-ID: <ruf-{n}@receiver.test>\r\nMIME-Version: 1.0\r\n"
        f'Content-Type: multipart/report; report-type=feedback-report; boundary="{boundary}"\r\n'
        f"\r\n--{boundary}\r\nContent-Type: text/plain\r\n\r\n"
        f"A message claiming to be from example.com failed DMARC.\r\n"
        f"--{boundary}\r\nContent-Type: message/feedback-report\r\n\r\n"
        f"Feedback-Type: auth-failure\r\nUser-Agent: bench/1.0\r\nVersion: 1\r\n"
        f"Original-Mail-From: <bounce-{n}@example.com>\r\nArrival-Date: {arrival}\r\n"
        f"Source-IP: {ip}\r\nReported-Domain: example.com\r\nAuth-Failure: dmarc\r\n"
        f"Delivery-Result: reject\r\n"
        f"\r\n--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: Shop <news@example.com>\r\nTo: someone@receiver.test\r\n"
        f"Subject: Offer {n}\r\nMessage-ID: <orig-{n}@example.com>\r\nDate: {arrival}\r\n"
        f"\r\n--{boundary}--\r\n"
    ).encode()


def tls(rng: random.Random, n: int) -> bytes:
    begin = START + rng.randrange(60) * DAY
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(begin))
    end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(begin + DAY - 1))
    failed = rng.choice([0, 0, 0, rng.randint(1, 20)])
    report = {
        "organization-name": rng.choice(ORGS),
        "date-range": {"start-datetime": stamp, "end-datetime": end},
        "contact-info": "smtp-tls-reporting@receiver.test",
        "report-id": f"tls-bench-{n}",
        "policies": [
            {
                "policy": {
                    "policy-type": "sts",
                    "policy-string": ["version: STSv1", "mode: enforce", "mx: mx.example.com"],
                    "policy-domain": "example.com",
                    "mx-host": ["mx.example.com"],
                },
                "summary": {
                    "total-successful-session-count": rng.randint(10, 5000),
                    "total-failure-session-count": failed,
                },
                "failure-details": [
                    {
                        "result-type": "certificate-expired",
                        "sending-mta-ip": "203.0.113.7",
                        "receiving-mx-hostname": "mx.example.com",
                        "failed-session-count": failed,
                    }
                ]
                if failed
                else [],
            }
        ],
    }
    message = EmailMessage()
    message["From"] = "tlsrpt@receiver.test"
    message["To"] = "tls@example.com"
    message["Subject"] = f"Report Domain: example.com Submitter: receiver.test Report-ID: <{n}>"
    message["TLS-Report-Domain"] = "example.com"
    message.set_content("SMTP TLS report attached.")
    message.add_attachment(
        gzip.compress(json.dumps(report).encode()),
        maintype="application",
        subtype="tlsrpt+gzip",
        filename=f"receiver.test!example.com!{begin}!{begin + DAY - 1}!{n}.json.gz",
    )
    return message.as_bytes()


def generate(folder: Path, emails: int, seed: int) -> dict[str, int]:
    rng = random.Random(seed)
    kinds = {"aggregate": 0, "failure": 0, "smtp_tls": 0}
    for n in range(emails):
        roll = rng.random()
        kind = "failure" if roll < 0.05 else "smtp_tls" if roll < 0.10 else "aggregate"
        maker = {"aggregate": aggregate, "failure": failure, "smtp_tls": tls}[kind]
        sub = folder / f"{n // 1000:02d}"
        sub.mkdir(exist_ok=True)
        (sub / f"{n:06d}.eml").write_bytes(maker(rng, n))
        kinds[kind] += 1
    return kinds


def run_import(folder: Path, config: Path) -> dict[str, object]:
    """Run ``deliverwatch dmarc import FOLDER`` (text output, as a user would) in a child
    process; its own wall time, CPU time and maximum RSS (``wait4``), and its totals line."""
    command = [sys.executable, "-m", "deliverwatch", "dmarc", "import", str(folder)]
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        child = subprocess.Popen([*command, "-c", str(config)], stdout=out, stderr=out)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        lines = out.read().decode(errors="replace").splitlines()
    if child.returncode not in (0, 1):
        sys.stderr.write("\n".join(lines[-20:]) + "\n")
        raise SystemExit(f"import failed with exit code {child.returncode}")
    return {
        "wall_s": round(wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "max_rss_mb": round(usage.ru_maxrss / 1024, 1),
        "totals_line": lines[-1] if lines else "",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--emails", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dw-bench-mailbox-") as tmp:
        root = Path(tmp)
        folder = root / "mail"
        folder.mkdir()
        started = time.perf_counter()
        kinds = generate(folder, args.emails, args.seed)
        generated = time.perf_counter() - started
        size = sum(p.stat().st_size for p in folder.rglob("*.eml"))
        config = root / "deliverwatch.yaml"
        config.write_text(f"database_url: sqlite:///{root / 'dw.db'}\n")
        load_before = os.getloadavg()
        first = run_import(folder, config)
        second = run_import(folder, config)
        load_after = os.getloadavg()
        with sqlite3.connect(root / "dw.db") as db:
            stored = {
                table: db.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
                for table in (
                    "dmarc_reports",
                    "dmarc_records",
                    "dmarc_failure_reports",
                    "smtp_tls_reports",
                )
            }
    result = {
        "emails": args.emails,
        "kinds": kinds,
        "bytes": size,
        "generate_s": round(generated, 1),
        "first_import": first,
        "first_rate_emails_per_s": round(args.emails / float(first["wall_s"]), 1),
        "reimport": second,
        "reimport_rate_emails_per_s": round(args.emails / float(second["wall_s"]), 1),
        "stored": stored,
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in load_after],
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "cpus": os.cpu_count(),
    }
    out = ROOT / "bench" / "results" / f"dmarc_mailbox_import-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
