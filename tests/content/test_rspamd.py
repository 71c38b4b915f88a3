"""The rspamd client against a local HTTP endpoint answering as rspamd's /checkv2 does.

This checks our request and the reading of rspamd's documented answer; a test against a real
rspamd is still to be written (Debian's ``rspamd`` package).
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from deliverwatch.content.external import ScorerError, rspamd_check

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
