"""`deliverwatch lint` end to end: formats, exit codes, template headers, config, network."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from deliverwatch.cli import app
from tests.content.support import FIXTURES, lint_shop_message, sign
from tests.servers.dnsserver import DNSServer
from tests.servers.https import HTTPSServer


def run(dns_server: DNSServer, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        app, ["lint", "--nameserver", dns_server.address, "--timeout", "0.3", *args]
    )
    return result.exit_code, result.stdout


def fx(name: str) -> str:
    return str(FIXTURES / name)


def test_json_for_one_file(dns_server: DNSServer) -> None:
    code, out = run(dns_server, fx("clean-marketing.eml"), "--format", "json")
    assert code == 0
    assert json.loads(out) == {
        "file": fx("clean-marketing.eml"),
        "score": 0,
        "verdict": "pass",
        "findings": [],
        "external": {},
    }


def test_json_array_and_fail_over(dns_server: DNSServer) -> None:
    files = [fx("clean-marketing.eml"), fx("image-only.eml"), fx("missing-alt.eml")]
    code, out = run(dns_server, *files, "--format", "json")
    reports = json.loads(out)
    assert code == 0  # image-only scores 6: a warning, not over the default 9
    assert [r["file"] for r in reports] == files
    assert [(r["score"], r["verdict"]) for r in reports] == [(0, "pass"), (6, "warn"), (1, "pass")]
    [item] = reports[1]["findings"]
    assert set(item) == {"code", "points", "severity", "message", "fix", "where"}
    assert item["where"] == {"line": 42, "element": "<img>", "part": "text/html"}
    code, out = run(dns_server, *files, "--format", "json", "--fail-over", "5")
    assert code == 1
    assert [r["verdict"] for r in json.loads(out)] == ["pass", "fail", "pass"]


def test_template_headers_from_file_and_flag(dns_server: DNSServer) -> None:
    template = fx("clean-template.html")
    code, out = run(dns_server, template, "--headers", fx("template-headers.txt"), "-f", "json")
    assert (code, json.loads(out)["findings"]) == (0, [])
    code, out = run(dns_server, template, "--format", "json")
    assert {f["code"] for f in json.loads(out)["findings"]} == {"header.no_list_unsubscribe"}
    code, out = run(dns_server, template, "--kind", "transactional", "--format", "json")
    assert json.loads(out)["findings"] == []


def test_from_flag_overrides_header_file(dns_server: DNSServer, tmp_path: Path) -> None:
    headers = tmp_path / "headers.txt"
    headers.write_text(
        (FIXTURES / "template-headers.txt").read_text()
        + "Return-Path: <bounces@mail.shop.example.com>\n"
    )
    args = [fx("clean-template.html"), "--headers", str(headers), "--format", "json"]
    code, out = run(dns_server, *args)
    assert (code, json.loads(out)["findings"]) == (0, [])
    code, out = run(dns_server, *args, "--from", "Shop <news@elsewhere.example.net>")
    [item] = json.loads(out)["findings"]
    assert item["code"] == "header.from_not_aligned"
    assert item["where"] == {"line": None, "element": "From (given, not in the file)", "part": None}


def test_config_weights_and_thresholds(dns_server: DNSServer, tmp_path: Path) -> None:
    config = tmp_path / "deliverwatch.yaml"
    config.write_text("lint:\n  weights:\n    link.insecure_http: 20\n  fail_over: 15\n")
    code, out = run(dns_server, fx("insecure-http.eml"), "-c", str(config), "--format", "json")
    report = json.loads(out)
    assert (code, report["score"], report["verdict"]) == (1, 20, "fail")
    assert report["findings"][0]["points"] == 20
    config.write_text("lint:\n  weights:\n    link.no_such_code: 1\n")
    code, _ = run(dns_server, fx("insecure-http.eml"), "-c", str(config))
    assert code == 2


def test_sarif_has_file_and_line(dns_server: DNSServer) -> None:
    code, out = run(dns_server, fx("missing-alt.eml"), fx("shortener.eml"), "--format", "sarif")
    sarif = json.loads(out)
    assert code == 0 and sarif["version"] == "2.1.0"
    run_ = sarif["runs"][0]
    rules = [r["id"] for r in run_["tool"]["driver"]["rules"]]
    assert rules == ["body.missing_alt", "link.shortener"]
    located = {r["ruleId"]: r["locations"][0]["physicalLocation"] for r in run_["results"]}
    assert located["body.missing_alt"]["artifactLocation"]["uri"].endswith("lint/missing-alt.eml")
    assert located["body.missing_alt"]["region"] == {"startLine": 47}
    assert located["link.shortener"]["region"]["startLine"] > 1


def test_text_output(dns_server: DNSServer) -> None:
    code, out = run(dns_server, fx("shortener.eml"))
    assert code == 0
    assert out.splitlines()[0].endswith("shortener.eml: score 4 (warn)")
    assert "link.shortener" in out and "fix: Link to your own domain" in out


def test_usage_errors(dns_server: DNSServer, tmp_path: Path) -> None:
    assert run(dns_server, str(tmp_path / "missing.eml"))[0] == 2
    bad = tmp_path / "headers.txt"
    bad.write_text("not a header line\n")
    assert run(dns_server, fx("clean-template.html"), "--headers", str(bad))[0] == 2
    assert run(dns_server, fx("clean-marketing.eml"), "--spamd", "host:notaport")[0] == 2
    assert run(dns_server, fx("clean-marketing.eml"), "--nameserver", "not-an-ip")[0] == 2


def test_unparseable_file_fails_the_gate(dns_server: DNSServer) -> None:
    code, out = run(dns_server, fx("unparseable.eml"), "--format", "json")
    report = json.loads(out)
    assert code == 1 and report["verdict"] == "fail"
    assert [f["code"] for f in report["findings"]] == ["message.unparseable"]


def test_dkim_through_the_nameserver(dns_server: DNSServer, tmp_path: Path) -> None:
    signed = tmp_path / "signed.eml"
    signed.write_bytes(sign(lint_shop_message()).replace(b"plant garlic", b"plant onions"))
    code, out = run(dns_server, str(signed), "--format", "json")
    assert code == 1
    assert [f["code"] for f in json.loads(out)["findings"]] == ["dkim.body_modified"]


@pytest.fixture(scope="module")
def web() -> Iterator[HTTPSServer]:
    with HTTPSServer(["www.shop.lint.test"]) as server:
        server.route("www.shop.lint.test", "/ok", "fine")
        yield server


def test_check_links(dns_server: DNSServer, web: HTTPSServer, tmp_path: Path) -> None:
    config = tmp_path / "deliverwatch.yaml"
    config.write_text(
        f"http:\n  allow_private: true\n  ca_bundle: {web.ca_file}\n  https_port: {web.port}\n"
        "lint:\n  uri_blocklists: [lintbl.test]\n"
    )
    template = tmp_path / "links.html"
    template.write_text(
        "<p>Our autumn planting guide covers garlic, tulips, daffodils and crocus.</p>\n"
        '<p><a href="https://www.shop.lint.test/ok">guide</a>\n'
        '<a href="https://www.shop.lint.test/missing">old page</a>\n'
        '<a href="https://www.spammy-shop.test/">partner</a>\n'
        '<a href="https://www.shop.lint.test/ok">Unsubscribe</a></p>\n'
    )
    (tmp_path / "links.txt").write_text("Unsubscribe: https://www.shop.lint.test/ok\n")
    args = [str(template), "-c", str(config), "--from", "news@shop.lint.test", "--format", "json"]
    code, out = run(dns_server, *args, "--kind", "transactional")
    assert json.loads(out)["findings"] == []  # no network checks without --check-links
    code, out = run(dns_server, *args, "--kind", "transactional", "--check-links")
    report: dict[str, Any] = json.loads(out)
    assert code == 1
    assert {f["code"]: f["where"]["line"] for f in report["findings"]} == {
        "link.blocklisted": 4,
        "link.broken": 3,
    }
