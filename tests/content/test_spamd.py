"""The spamd integration against a real SpamAssassin spamd (Debian's ``spamd`` package).

The test starts its own spamd on a free 127.0.0.1 port with local tests only (``-L``: no DNS
or network rules), so it runs offline. It is skipped, saying why, where spamd is not installed
(``apt-get install spamd``).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deliverwatch.cli import app
from deliverwatch.content.external import ScorerError, SpamdClient, parse_report
from tests.content.support import FIXTURES
from tests.servers.dnsserver import DNSServer
from tests.servers.ports import free_port

SPAMD = shutil.which("spamd") or ("/usr/sbin/spamd" if Path("/usr/sbin/spamd").exists() else None)
pytestmark = pytest.mark.skipif(SPAMD is None, reason="spamd not installed (apt-get install spamd)")


@pytest.fixture(scope="module")
def spamd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    assert SPAMD is not None
    port = free_port()
    home = tmp_path_factory.mktemp("spamd")
    home.chmod(0o777)  # spamd drops to nobody when started as root
    command = [
        SPAMD,
        f"--listen=127.0.0.1:{port}",
        "--local",
        "--nouser-config",
        "--max-children=2",
        "--min-children=1",
        f"--pidfile={home / 'spamd.pid'}",
        f"--helper-home-dir={home}",
        "--syslog=stderr",
    ]
    if os.geteuid() == 0:
        command.append("--username=nobody")
    log = (home / "spamd.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"spamd exited: {(home / 'spamd.log').read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("spamd did not start listening within 60 s")
                time.sleep(0.2)
        yield "127.0.0.1", port
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        log.close()


async def test_report_and_symbols(spamd: tuple[str, int]) -> None:
    raw = (FIXTURES / "missing-date.eml").read_bytes()
    client = SpamdClient(*spamd, timeout=60)
    report = await client.report(raw)
    names = {s.name for s in report.symbols}
    assert report.threshold == 5.0 and not report.spam
    assert "MISSING_DATE" in names
    assert all(s.score is not None and s.description for s in report.symbols)
    assert report.score == pytest.approx(sum(s.score or 0 for s in report.symbols), abs=0.11)
    symbols = await client.symbols(raw)
    assert {s.name for s in symbols.symbols} == names
    assert symbols.score == report.score


def test_cli_reports_spamd_beside_findings(dns_server: DNSServer, spamd: tuple[str, int]) -> None:
    host, port = spamd
    args = ["lint", "--nameserver", dns_server.address, "--spamd", f"{host}:{port}"]
    files = [str(FIXTURES / "missing-date.eml"), str(FIXTURES / "clean-template.html")]
    result = CliRunner().invoke(app, [*args, *files, "--format", "json"])
    eml, template = json.loads(result.stdout)
    assert result.exit_code == 0
    assert [f["code"] for f in eml["findings"]] == ["header.missing_date"]
    assert eml["score"] == 2  # spamd's score is reported, never added
    assert "MISSING_DATE" in {s["name"] for s in eml["external"]["spamd"]["symbols"]}
    assert template["external"]["spamd"]["threshold"] == 5.0  # a template is built into a message
    text = CliRunner().invoke(app, [*args, files[0]]).stdout
    assert "spamd: score" in text and "MISSING_DATE" in text


async def test_unreachable_spamd_is_an_error_not_a_crash() -> None:
    with pytest.raises(ScorerError, match=r"spamd 127\.0\.0\.1"):
        await SpamdClient("127.0.0.1", free_port(), timeout=5).report(b"Subject: x\n\nhi\n")


def test_parse_report_wrapped_lines() -> None:
    body = (
        "Content analysis details:   (3.8 points, 5.0 required)\n\n"
        " pts rule name              description\n"
        "---- ---------------------- --------------------------------------------------\n"
        " 2.7 MISSING_DATE           Missing Date: header\n"
        "-0.0 NO_RELAYS              Informational: message was not relayed via SMTP\n"
        " 1.0 LONG_RULE              A description that goes on\n"
        "                            and on\n"
    )
    symbols = parse_report(body)
    assert [(s.name, s.score) for s in symbols] == [
        ("MISSING_DATE", 2.7),
        ("NO_RELAYS", -0.0),
        ("LONG_RULE", 1.0),
    ]
    assert symbols[2].description == "A description that goes on and on"
