"""DMARC failure and SMTP TLS reports in the store, on SQLite and PostgreSQL: stored from the
real corpus, deduplicated (failure reports by fingerprint, TLS reports by reporter and report
id), listed by domain; and uploads through ``import_bytes`` with the file caps."""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from deliverwatch.dmarc.containers import Limits
from deliverwatch.dmarc.importer import import_bytes, import_paths
from deliverwatch.store.dmarc_failures import count_failures, list_failures
from deliverwatch.store.schema import dmarc_failure_reports, smtp_tls_policies, smtp_tls_reports
from deliverwatch.store.smtp_tls import list_smtp_tls
from tests.dmarc.support import CORPUS, needs_corpus, report_xml

pytestmark = needs_corpus


def _count(engine: Engine, table: sa.Table) -> int:
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_failure_reports_are_stored_once_each(engine: Engine) -> None:
    outcomes = list(import_paths(engine, [CORPUS / "failure"]))
    assert [o.kind for o in outcomes] == ["failure"] * 5
    by_file = {Path(o.name).name: o.status for o in outcomes}
    # The LinkedIn report saved with CRLF line endings says the same: one report.
    assert sorted(by_file.values()) == ["duplicate", "imported", "imported", "imported", "imported"]
    assert {
        by_file["dmarc_ruf_report_linkedin.crlf.eml"],
        by_file["dmarc_ruf_report_linkedin.eml"],
    } == {
        "imported",
        "duplicate",
    }
    assert _count(engine, dmarc_failure_reports) == 4
    again = list(import_paths(engine, [CORPUS / "failure"]))
    assert {o.status for o in again} == {"duplicate"}
    assert _count(engine, dmarc_failure_reports) == 4

    with engine.connect() as conn:
        example = list_failures(conn, domain="example.com")
        assert count_failures(conn, domain="example.com") == len(example) == 2
        assert count_failures(conn) == 4
        assert [f.reported_domain for f in list_failures(conn, domain="domain.de")] == ["domain.de"]
        linkedin = next(f for f in example if f.source_ip == "10.10.10.10")
        assert linkedin.format == "arf"
        assert linkedin.sample_headers["subject"] == "Subject line, could be UTF8 encoded"
        # Newest arrival first.
        assert example[0].arrival_date is not None and example[1].arrival_date is not None
        assert example[0].arrival_date > example[1].arrival_date
        rows = conn.execute(sa.select(dmarc_failure_reports)).mappings().all()
    # The original message's body never reaches the store.
    stored = json.dumps([dict(row) for row in rows], default=str)
    assert "HTML Text" not in stored and "Alternative" not in stored
    assert '"feedback-type"' in stored  # the feedback fields are kept


def test_smtp_tls_reports_are_stored_once_and_listed_by_domain(engine: Engine) -> None:
    outcomes = list(import_paths(engine, [CORPUS / "smtp_tls"]))
    assert [o.status for o in outcomes] == ["imported"] * 4
    assert {o.kind for o in outcomes} == {"smtp_tls"}
    assert _count(engine, smtp_tls_reports) == 4
    assert _count(engine, smtp_tls_policies) == 4
    assert {o.status for o in import_paths(engine, [CORPUS / "smtp_tls"])} == {"duplicate"}
    assert _count(engine, smtp_tls_reports) == 4

    with engine.connect() as conn:
        everything = list_smtp_tls(conn)
        example = list_smtp_tls(conn, domain="EXAMPLE.com.")
        company = list_smtp_tls(conn, domain="company-y.example")
    assert len(everything) == 4
    assert {r.organization_name for r in example} == {"Mail.ru", "Example Inc."}
    assert all(p.policy_domain == "example.com" for r in example for p in r.policies)
    [report] = company
    assert report.organization_name == "Company-X"
    assert (report.successful_sessions, report.failed_sessions) == (5326, 303)
    [policy] = report.policies
    assert policy.policy_type == "sts"
    assert sum(f["failed_session_count"] for f in policy.failures) == 303
    assert report.to_dict()["policies"][0]["failures"][0]["result_type"]


def test_import_bytes_imports_an_upload_and_reports_each_part(engine: Engine) -> None:
    aggregate = report_xml([{"ip": "192.0.2.1", "count": 3}], report_id="upload-1")
    summary = import_bytes(engine, "report.xml.gz", gzip.compress(aggregate))
    assert summary.ok and summary.totals() == {"imported": 1}
    assert summary.to_dict()["outcomes"][0]["records"] == 1
    assert import_bytes(engine, "again.xml", aggregate).totals() == {"duplicate": 1}

    # An mbox upload: an aggregate report, a TLS report and a message without any report.
    tls = (CORPUS / "smtp_tls" / "rfc8460.json").read_bytes()
    mbox = b"".join(
        [
            b"From reporter@example.net Mon Jan  1 00:00:00 2024\n",
            _email("agg", "r.xml", "text/xml", report_xml([], report_id="upload-2")),
            b"\nFrom reporter@example.net Mon Jan  1 00:00:00 2024\n",
            _email("tls", "t.json", "application/tlsrpt+json", tls),
            b"\nFrom someone@example.net Mon Jan  1 00:00:00 2024\n",
            b"Subject: hello\n\njust text\n",
        ]
    )
    summary = import_bytes(engine, "upload.mbox", mbox)
    assert [(o.name, o.status, o.kind) for o in summary.outcomes] == [
        ("upload.mbox[1] › r.xml", "imported", "aggregate"),
        ("upload.mbox[2] › t.json", "imported", "smtp_tls"),
        ("upload.mbox[3]", "error", None),
    ]
    assert summary.errors[0].reason == "no DMARC or SMTP TLS report found in this email"
    assert summary.by_kind()["smtp_tls"] == {"imported": 1}


def test_import_bytes_refuses_bombs_and_oversized_uploads(engine: Engine) -> None:
    limits = Limits(ratio_floor=1024 * 1024, max_message_bytes=1_000_000)
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("bomb.xml", b"<feedback>" + b" " * 20_000_000)
        archive.writestr("good.xml", report_xml([], report_id="beside-the-bomb"))
    summary = import_bytes(engine, "reports.zip", bomb.getvalue(), limits)
    statuses = {o.name: (o.status, o.reason) for o in summary.outcomes}
    status, reason = statuses["reports.zip › bomb.xml"]
    assert status == "error" and reason is not None and "compression ratio" in reason
    assert statuses["reports.zip › good.xml"] == ("imported", None)

    summary = import_bytes(engine, "huge.xml", b"<" + b"x" * 1_000_000, limits)
    assert [(o.status, o.reason) for o in summary.outcomes] == [
        ("error", "larger than 1000000 bytes")
    ]
    assert [o.reason for o in import_bytes(engine, "empty", b"").outcomes] == ["empty file"]


def _email(subject: str, filename: str, content_type: str, body: bytes) -> bytes:
    import base64

    encoded = base64.encodebytes(body).decode()
    return (
        f"From: reports@example.net\nSubject: {subject}\nMIME-Version: 1.0\n"
        f'Content-Type: multipart/mixed; boundary="b"\n\n--b\nContent-Type: text/plain\n\n'
        f"report attached\n--b\nContent-Type: {content_type}\n"
        f'Content-Disposition: attachment; filename="{filename}"\n'
        f"Content-Transfer-Encoding: base64\n\n{encoded}--b--\n"
    ).encode()


def test_read_days_feeds_the_signals(engine: Engine) -> None:
    from datetime import UTC, datetime

    from deliverwatch.dmarc.signals import failing_sources, new_sources, pass_rate_by_day
    from deliverwatch.store.dmarc import read_days

    day = 86_400
    d0 = 1_700_006_400
    first = report_xml(
        [
            {"ip": "192.0.2.1", "count": 90},
            {"ip": "192.0.2.1", "count": 10, "dkim": "fail", "spf": "fail"},
        ],
        report_id="day0",
        begin=d0,
        end=d0 + day - 1,
    )
    second = report_xml(
        [
            {"ip": "192.0.2.1", "count": 50},
            {"ip": "198.51.100.9", "count": 40, "dkim": "fail", "spf": "fail"},
        ],
        report_id="day1",
        begin=d0 + day,
        end=d0 + 2 * day - 1,
    )
    for name, data in (("a.xml", first), ("b.xml", second)):
        assert import_bytes(engine, name, data).totals() == {"imported": 1}
    with engine.connect() as conn:
        rows = read_days(conn, domain="example.test")
        assert read_days(conn, domain="other.test") == []
        later = read_days(conn, since=datetime.fromtimestamp(d0 + day + 5, UTC))
    assert [(r.day - d0, r.source_ip, r.messages, r.dmarc_pass) for r in rows] == [
        (0, "192.0.2.1", 100, 90),
        (day, "192.0.2.1", 50, 50),
        (day, "198.51.100.9", 40, 0),
    ]
    assert len(later) == 2
    since = datetime.fromtimestamp(d0 + day, UTC)
    assert [s.source_ip for s in new_sources(rows, since)] == ["198.51.100.9"]
    assert [(s.source_ip, s.failed) for s in failing_sources(rows, min_failed=10)] == [
        ("198.51.100.9", 40),
        ("192.0.2.1", 10),
    ]
    assert [d.pass_rate for d in pass_rate_by_day(rows)] == [0.9, 50 / 90]


def test_a_report_broken_midway_leaves_nothing_and_its_batch_neighbours_go_in(
    engine: Engine, tmp_path: Path
) -> None:
    from deliverwatch.store.schema import dmarc_records

    records = [{"ip": f"192.0.2.{n}", "count": n} for n in range(1, 30)]
    (tmp_path / "1.xml").write_bytes(report_xml(records, report_id="first"))
    (tmp_path / "2.xml").write_bytes(report_xml(records, report_id="broken")[:-40])
    (tmp_path / "3.xml").write_bytes(report_xml(records, report_id="third"))
    outcomes = list(import_paths(engine, [tmp_path]))
    assert [(Path(o.name).name, o.status) for o in outcomes] == [
        ("1.xml", "imported"),
        ("2.xml", "error"),
        ("3.xml", "imported"),
    ]
    assert _count(engine, dmarc_records) == 2 * len(records)
    with engine.connect() as conn:
        ids = conn.execute(sa.select(sa.text("report_id")).select_from(sa.table("dmarc_reports")))
        assert sorted(ids.scalars()) == ["first", "third"]
