"""`deliverwatch check` end to end against the real test DNS server."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from deliverwatch.cli import app
from tests.servers.dnsserver import DNSServer

BASE = ["--no-http", "--no-blocklists", "--timeout", "0.3"]


def run(dns_server: DNSServer, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["check", "--nameserver", dns_server.address, *BASE, *args])
    return result.exit_code, result.stdout


def codes(report: dict[str, Any]) -> set[str]:
    return {f["code"] for f in report["findings"]}


def test_good_domain_is_ok(dns_server: DNSServer) -> None:
    code, out = run(dns_server, "good.audit.test", "--selector", "s1", "--format", "json")
    report = json.loads(out)
    assert code == 0
    assert report["domain"] == "good.audit.test"
    assert report["status"] == "ok", report["findings"]
    assert report["score"] == 100 and report["grade"] == "A"
    assert report["spf"]["dns_lookups"] == 1
    assert report["dmarc"]["policy"] == "reject"
    assert report["dmarc"]["location"] == "_dmarc.good.audit.test"
    [s1] = [s for s in report["dkim"]["selectors"] if s["selector"] == "s1"]
    assert (s1["found"], s1["key_type"], s1["key_bits"], s1["testing"]) == (
        True,
        "rsa",
        2048,
        False,
    )
    [host] = report["mx"]["hosts"]
    assert host["host"] == "mx1.good.audit.test" and host["addresses"] == ["198.18.0.25"]
    assert host["ptr"][0]["fcrdns"] is True
    assert report["requirements"]["yahoo"]["unmet"] == []
    for section in ("spf", "dmarc", "dkim", "bimi", "mta_sts", "tlsrpt", "mx", "blocklists"):
        assert "status" in report[section]


def test_bad_domain_fails_with_every_problem(dns_server: DNSServer) -> None:
    code, out = run(dns_server, "bad.audit.test", "--format", "json")
    report = json.loads(out)
    assert code == 1
    assert report["status"] == "error"
    assert {
        "spf.permissive_all",
        "dmarc.missing",
        "dkim.no_selector_found",
        "mx.missing",
        "requirements.unmet",
    } <= codes(report)
    assert report["grade"] == "F" or report["score"] < 60
    assert all(f["fix"] for f in report["findings"])


def test_dns_failure_is_unknown_never_missing(dns_server: DNSServer) -> None:
    code, out = run(dns_server, "flaky.audit.test", "--format", "json")
    report = json.loads(out)
    assert report["status"] == "unknown"
    found = codes(report)
    assert {"dns.timeout", "dns.servfail"} <= found
    assert not found & {"spf.include_missing", "dmarc.missing", "spf.missing"}
    assert code == 0  # dns.* are warnings: they do not reach the default --fail-on error
    code, _ = run(dns_server, "flaky.audit.test", "--format", "json", "--fail-on", "warning")
    assert code == 1


def test_several_domains_json_array_in_input_order(dns_server: DNSServer) -> None:
    names = ["flaky.audit.test", "good.audit.test", "bad.audit.test"]
    code, out = run(dns_server, *names, "--format", "json", "--fail-on", "never")
    assert code == 0
    assert [r["domain"] for r in json.loads(out)] == names


def test_jsonl_csv_sarif(dns_server: DNSServer) -> None:
    names = ["good.audit.test", "bad.audit.test"]
    _, out = run(dns_server, *names, "--format", "jsonl")
    lines = [json.loads(line) for line in out.splitlines()]
    assert sorted(r["domain"] for r in lines) == sorted(names)

    _, out = run(dns_server, *names, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["domain"] for r in rows] == names
    assert rows[1]["status"] == "error" and "dmarc.missing" in rows[1]["codes"].split()

    _, out = run(dns_server, *names, "--format", "sarif")
    sarif = json.loads(out)
    assert sarif["version"] == "2.1.0"
    results = sarif["runs"][0]["results"]
    rule_ids = {r["id"] for r in sarif["runs"][0]["tool"]["driver"]["rules"]}
    assert {r["ruleId"] for r in results} == rule_ids
    assert any(r["ruleId"] == "dmarc.missing" and r["level"] == "error" for r in results)


def test_text_report_shows_findings_and_fixes(dns_server: DNSServer) -> None:
    code, out = run(dns_server, "bad.audit.test")
    assert code == 1
    assert "bad.audit.test" in out and "spf.permissive_all" in out
    assert "_dmarc" in out  # the dmarc.missing fix tells where to publish


def test_sending_ips_forward_confirmed(dns_server: DNSServer) -> None:
    _, out = run(
        dns_server,
        "good.audit.test",
        "--selector",
        "s1",
        "--ip",
        "198.18.0.10",
        "--ip",
        "198.18.0.11",
        "--format",
        "json",
    )
    report = json.loads(out)
    by_ip = {ip["address"]: ip for ip in report["sending_ips"]}
    assert by_ip["198.18.0.10"]["fcrdns"] is True
    assert by_ip["198.18.0.11"]["fcrdns"] is False
    assert "rdns.no_fcrdns" in codes(report)
    assert report["requirements"]["google"]["met"] is False


def test_domains_file_and_config(dns_server: DNSServer, tmp_path: Path) -> None:
    listing = tmp_path / "domains.txt"
    listing.write_text("# monitored\ngood.audit.test\n\nbad.audit.test  # legacy\n")
    config = tmp_path / "dw.yaml"
    config.write_text(
        "domains:\n  - name: good.audit.test\n    dkim_selectors: [s1]\n"
        "check:\n  common_selectors: false\n"
    )
    _, out = run(
        dns_server, "--domains-file", str(listing), "--config", str(config), "--format", "json"
    )
    good, bad = json.loads(out)
    assert (good["domain"], bad["domain"]) == ("good.audit.test", "bad.audit.test")
    assert [s["selector"] for s in good["dkim"]["selectors"]] == ["s1"]
    assert good["dkim"]["checked"] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "no domains"),
        (["good.audit.test", "--ip", "not-an-ip"], "--ip"),
        (["good.audit.test", "--format", "xml"], "xml"),
        (["good.audit.test", "--domains-file", "/nonexistent/list"], "--domains-file"),
    ],
)
def test_usage_errors_exit_2(
    dns_server: DNSServer,
    args: list[str],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # no ./deliverwatch.yaml with domains
    result = CliRunner().invoke(app, ["check", "--nameserver", dns_server.address, *args])
    assert result.exit_code == 2
    assert message in result.output


def test_bad_config_exits_2_naming_the_key(dns_server: DNSServer, tmp_path: Path) -> None:
    config = tmp_path / "dw.yaml"
    config.write_text("dns:\n  timeout: fast\n")
    result = CliRunner().invoke(app, ["check", "x.test", "--config", str(config)])
    assert result.exit_code == 2
    assert "dns.timeout" in result.output


def test_console_script_runs(dns_server: DNSServer) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "deliverwatch",
            "check",
            "good.audit.test",
            "--selector",
            "s1",
            "--nameserver",
            dns_server.address,
            *BASE,
            "--format",
            "jsonl",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["status"] == "ok"


def test_mta_sts_policy_fetched_over_https(dns_server: DNSServer, tmp_path: Path) -> None:
    from tests.servers.https import HTTPSServer

    policy = "version: STSv1\nmode: enforce\nmx: *.good.audit.test\nmax_age: 604800\n"
    with HTTPSServer(["mta-sts.good.audit.test"]) as server:
        server.route("mta-sts.good.audit.test", "/.well-known/mta-sts.txt", policy)
        config = tmp_path / "dw.yaml"
        config.write_text(
            f"http:\n  allow_private: true\n  ca_bundle: {server.ca_file}\n"
            f"  https_port: {server.port}\n"
        )
        result = CliRunner().invoke(
            app,
            [
                "check",
                "good.audit.test",
                "--selector",
                "s1",
                "--config",
                str(config),
                "--nameserver",
                dns_server.address,
                "--no-blocklists",
                "--format",
                "json",
            ],
        )
        assert ("mta-sts.good.audit.test", "/.well-known/mta-sts.txt") in server.hits
    report = json.loads(result.stdout)
    assert result.exit_code == 0
    assert report["mta_sts"]["fetched"] is True
    assert report["mta_sts"]["policy"]["mode"] == "enforce"
    assert report["status"] == "ok", report["findings"]
    # the same domain without http: the policy is reported as not checked, not as a problem
    _, out = run(dns_server, "good.audit.test", "--selector", "s1", "--format", "json")
    unchecked = json.loads(out)
    assert unchecked["mta_sts"]["status"] == "not_checked"
    assert "mta_sts.not_checked" in codes(unchecked)


def test_private_policy_host_refused_by_default(dns_server: DNSServer, tmp_path: Path) -> None:
    config = tmp_path / "dw.yaml"
    config.write_text("http:\n  timeout: 2\n")
    result = CliRunner().invoke(
        app,
        [
            "check",
            "good.audit.test",
            "--selector",
            "s1",
            "--config",
            str(config),
            "--nameserver",
            dns_server.address,
            "--no-blocklists",
            "--format",
            "json",
        ],
    )
    report = json.loads(result.stdout)
    unreachable = [f for f in report["findings"] if f["code"] == "mta_sts.policy_unreachable"]
    assert unreachable and "127.0.0.1" in unreachable[0]["message"]
