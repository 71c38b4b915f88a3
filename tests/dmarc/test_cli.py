"""``deliverwatch dmarc import`` and ``dmarc summary`` end to end, on a SQLite store."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deliverwatch.cli import app
from tests.dmarc.support import CORPUS, needs_corpus, report_xml
from tests.servers.dnsserver import DNSServer

D0 = 1_700_006_400  # 2023-11-15 00:00 UTC


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "deliverwatch.yaml"
    path.write_text(f"database_url: sqlite:///{tmp_path / 'dw.db'}\n")
    return path


@pytest.fixture
def reports(tmp_path: Path) -> Path:
    folder = tmp_path / "inbox"
    (folder / "nested").mkdir(parents=True)
    (folder / "a.xml").write_bytes(
        report_xml(
            [
                {"ip": "203.0.113.1", "count": 90},
                {"ip": "203.0.113.1", "count": 10, "dkim": "fail", "spf": "fail"},
                {"ip": "203.0.113.4", "count": 5, "dkim": "fail", "spf": "fail"},
            ],
            report_id="a",
            begin=D0,
            end=D0 + 86399,
        )
    )
    (folder / "nested" / "b.xml.gz").write_bytes(
        gzip.compress(
            report_xml(
                [{"ip": "203.0.113.2", "count": 100, "spf": "fail"}],
                org="outlook.test",
                report_id="b",
                begin=D0,
                end=D0 + 86399,
            )
        )
    )
    (folder / "nested" / "broken.xml").write_bytes(b"<feedback><report_metadata>")
    (folder / ".hidden.xml").write_bytes(b"ignored")
    return folder


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_import_reports_each_file_and_exits_1_on_errors(config: Path, reports: Path) -> None:
    code, out, err = run("dmarc", "import", str(reports), "--config", str(config))
    assert code == 1
    assert f"{reports}/a.xml: imported reporter.test report a for example.test (3 records" in out
    assert "nested/b.xml.gz: imported outlook.test report b" in out
    assert "nested/broken.xml: error: truncated document" in err
    assert "2 imported (2 aggregate), 0 duplicate, 1 error" in out
    assert "hidden" not in out + err

    code, out, _ = run(
        "dmarc", "import", str(reports / "a.xml"), "--config", str(config), "--format", "json"
    )
    assert code == 0
    data = json.loads(out)
    assert data["totals"] == {"duplicate": 1}
    assert data["by_kind"] == {"aggregate": {"duplicate": 1}}
    assert data["outcomes"][0]["status"] == "duplicate"


def test_summary_json(config: Path, reports: Path, dns_server: DNSServer) -> None:
    run("dmarc", "import", str(reports), "--config", str(config))
    code, out, _ = run(
        "dmarc",
        "summary",
        "--config",
        str(config),
        "--domain",
        "example.test",
        "--window",
        "2023-11-01..2023-12-01",
        "--nameserver",
        dns_server.address,
        "--format",
        "json",
    )
    assert code == 0, out
    data = json.loads(out)
    assert (data["messages"], data["reports"]) == (205, 2)
    assert data["dmarc_pass"] == {"count": 190, "total": 205, "rate": 190 / 205}
    assert data["spf_aligned"]["count"] == 90
    assert [(r["reporter"], r["messages"]) for r in data["reporters"]] == [
        ("reporter.test", 105),
        ("outlook.test", 100),
    ]
    groups = {g["name"]: (g["ips"], g["messages"]) for g in data["by_rdns"]}
    assert groups == {"dmarcsrc.test": (2, 200), "(no reverse DNS)": (1, 5)}
    failing = [(s["ip"], s["failed"], s["legitimate"]) for s in data["failing_sources"]]
    assert failing == [("203.0.113.1", 10, True), ("203.0.113.4", 5, False)]
    readiness = data["readiness"]
    assert (readiness["legitimate_messages"], readiness["would_fail"]) == (200, 10)
    assert readiness["ready"] is False
    assert [c["ip"] for c in readiness["causes"]] == ["203.0.113.1"]


def test_summary_text_and_options(config: Path, reports: Path) -> None:
    run("dmarc", "import", str(reports), "--config", str(config))
    code, out, _ = run("dmarc", "summary", "--config", str(config), "--window", "all", "--no-rdns")
    assert code == 0
    assert "all domains — all: 2 reports, 205 messages, 3 sources" in out
    assert "DMARC pass 92.7%" in out
    assert "Readiness for quarantine/reject: not ready" in out
    code, out, _ = run("dmarc", "summary", "--config", str(config), "--no-rdns")
    assert code == 0 and "No DMARC aggregate data in this window." in out  # 2023 is past 30d
    code, _, err = run("dmarc", "summary", "--config", str(config), "--window", "soon")
    assert code == 2 and "--window" in err
    code, _, err = run("dmarc", "summary", "--config", str(config), "--nameserver", "not a host:x")
    assert code == 2 and "--nameserver" in err


@needs_corpus
def test_failure_and_tls_reports_are_imported_and_listed(config: Path) -> None:
    folders = [str(CORPUS / "failure"), str(CORPUS / "smtp_tls")]
    code, out, err = run("dmarc", "import", *folders, "--config", str(config))
    assert code == 0, err
    assert "imported failure report for example.com (source 10.10.10.10" in out
    assert "duplicate: failure report for example.com (source 10.10.10.10" in out
    assert "imported Company-X SMTP TLS report 5065427c-23d3-47ca-b6e0-946ea0e8c4be for " in out
    assert "8 imported (4 failure, 4 SMTP TLS), 1 duplicate, 0 error" in out

    code, out, _ = run(
        "dmarc", "failures", "--config", str(config), "--window", "all", "--domain", "example.com"
    )
    assert code == 0
    assert "example.com — all: 2 failure reports" in out
    assert "10.10.10.10" in out and "203.0.113.68" in out
    code, out, _ = run(
        "dmarc", "failures", "--config", str(config), "--window", "all", "--format", "json"
    )
    data = json.loads(out)
    assert data["total"] == 4
    assert {f["reported_domain"] for f in data["failures"]} == {
        "example.com",
        "domain.de",
        "cardinal.com",
    }
    code, out, _ = run("dmarc", "failures", "--config", str(config))  # the corpus is old
    assert code == 0 and "all domains — 30d: 0 failure reports" in out

    code, out, _ = run(
        "dmarc", "tls", "--config", str(config), "--window", "all", "--domain", "company-y.example"
    )
    assert code == 0
    assert "company-y.example — all: 1 SMTP TLS reports" in out
    assert "Company-X" in out and "5,326" in out and "303" in out
    code, out, _ = run(
        "dmarc", "tls", "--config", str(config), "--window", "all", "--format", "json"
    )
    data = json.loads(out)
    assert {r["org_name"] for r in data["reports"]} == {
        "Google Inc.",
        "Mail.ru",
        "Company-X",
        "Example Inc.",
    }
    code, _, err = run("dmarc", "tls", "--config", str(config), "--window", "nope")
    assert code == 2 and "--window" in err
