"""rspamd beside the built-in findings: a real rspamd, and our client's edge cases.

The real one is Debian's ``rspamd`` package started by :class:`tests.servers.rspamd.RspamdServer`
(one normal worker on a free 127.0.0.1 port, DNS sent to the tests' DNS server); those tests
are skipped, saying why, where the binary is missing. Its Hyperscan cache is kept in pytest's
cache directory, so only the first run pays the compile (about a minute on a busy machine).
The answers rspamd will not give on demand (HTTP errors, a non-JSON body, a custom path) come
from a local HTTP server.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from deliverwatch.cli import app
from deliverwatch.content.external import ScorerError, message_bytes, rspamd_check
from tests.content.support import FIXTURES, load_fixture
from tests.servers.dnsserver import DNSServer
from tests.servers.rspamd import RSPAMD, SKIP_REASON, RspamdServer

ANSWER = {
    "is_skipped": False,
    "score": 6.2,
    "required_score": 15.0,
    "action": "add header",
    "symbols": {
        "MISSING_DATE": {"name": "MISSING_DATE", "score": 1.0, "description": "Date missing"},
        "R_DKIM_NA": {"name": "R_DKIM_NA", "score": 0.0},
        "BAYES_SPAM": {"name": "BAYES_SPAM", "score": 5.2, "description": "Bayes"},
    },
}


class _Handler(http.server.BaseHTTPRequestHandler):
    received: list[tuple[str, bytes]]
    answer: Any = ANSWER
    status = 200

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        type(self).received.append((self.path, body))
        data = (
            json.dumps(self.answer).encode() if not isinstance(self.answer, bytes) else self.answer
        )
        self.send_response(self.status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def endpoint() -> Iterator[tuple[str, type[_Handler]]]:
    handler = type("Handler", (_Handler,), {"received": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


async def test_checkv2(endpoint: tuple[str, type[_Handler]]) -> None:
    url, handler = endpoint
    result = await rspamd_check(url, b"Subject: hi\n\nbody\n")
    assert handler.received == [("/checkv2", b"Subject: hi\n\nbody\n")]
    assert (result.score, result.threshold, result.spam, result.action) == (
        6.2,
        15.0,
        True,
        "add header",
    )
    assert [s.name for s in result.symbols] == ["BAYES_SPAM", "MISSING_DATE", "R_DKIM_NA"]
    assert result.to_dict()["symbols"][1] == {
        "name": "MISSING_DATE",
        "score": 1.0,
        "description": "Date missing",
    }
    await rspamd_check(url + "/custom/checkv2", b"x")
    assert handler.received[-1][0] == "/custom/checkv2"


async def test_errors(endpoint: tuple[str, type[_Handler]]) -> None:
    url, handler = endpoint
    handler.answer = b"not json"
    with pytest.raises(ScorerError, match="unreadable answer"):
        await rspamd_check(url, b"x")
    handler.status = 500
    with pytest.raises(ScorerError, match="HTTP 500"):
        await rspamd_check(url, b"x")
    with pytest.raises(ScorerError, match="rspamd"):
        await rspamd_check("http://127.0.0.1:1/", b"x", seconds=2)


# -- a real rspamd ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def rspamd(dns_server: DNSServer, pytestconfig: pytest.Config) -> Iterator[str]:
    if RSPAMD is None:
        pytest.skip(SKIP_REASON)
    cache = getattr(pytestconfig, "cache", None)
    server = RspamdServer(
        nameserver=dns_server.address,
        hs_cache=cache.mkdir("rspamd-hyperscan") if cache is not None else None,
    )
    try:
        url = server.start()
    except RuntimeError as exc:
        server.stop()
        pytest.fail(str(exc))
    try:
        yield url
    finally:
        server.stop()


async def test_real_rspamd_scores_a_message(rspamd: str) -> None:
    result = await rspamd_check(rspamd, (FIXTURES / "missing-date.eml").read_bytes())
    symbols = {s.name: s for s in result.symbols}
    assert symbols["MISSING_DATE"].score == 1.0  # rspamd's own rule for what we call missing_date
    assert symbols["MISSING_DATE"].description
    assert "HAS_LIST_UNSUB" in symbols  # the fixture has List-Unsubscribe
    assert result.threshold == 15.0  # the packaged reject score
    assert result.action in {"no action", "greylist", "add header", "rewrite subject"}
    assert result.score == pytest.approx(sum(s.score or 0 for s in result.symbols), abs=0.01)
    scores = [s.score or 0 for s in result.symbols]
    assert scores == sorted(scores, reverse=True)


async def test_real_rspamd_scores_a_built_template(rspamd: str) -> None:
    data = message_bytes(load_fixture("clean-template.html"))
    result = await rspamd_check(rspamd + "/checkv2", data)
    names = {s.name for s in result.symbols}
    assert {"MISSING_DATE", "MISSING_MID"} <= names  # the MTA adds these; a template has none
    assert "MIME_HTML_ONLY" not in names  # sent as multipart/alternative with its text part


def test_cli_reports_rspamd_beside_findings(dns_server: DNSServer, rspamd: str) -> None:
    args = ["lint", "--nameserver", dns_server.address, "--timeout", "0.3", "--rspamd", rspamd]
    files = [str(FIXTURES / "missing-date.eml"), str(FIXTURES / "clean-marketing.eml")]
    result = CliRunner().invoke(app, [*args, *files, "--format", "json"])
    assert result.exit_code == 0, result.output
    eml, clean = json.loads(result.stdout)
    assert [f["code"] for f in eml["findings"]] == ["header.missing_date"]
    assert eml["score"] == 2  # rspamd's score is reported, never added to ours
    external = eml["external"]["rspamd"]
    assert "MISSING_DATE" in {s["name"] for s in external["symbols"]}
    assert external["threshold"] == 15.0 and isinstance(external["score"], float)
    assert "MISSING_DATE" not in {s["name"] for s in clean["external"]["rspamd"]["symbols"]}
    text = CliRunner().invoke(app, [*args, files[0]]).stdout
    assert "rspamd: score" in text and "MISSING_DATE" in text
