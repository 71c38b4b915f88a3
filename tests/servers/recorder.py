"""A real HTTP server on 127.0.0.1 that records every request, for outbound-webhook tests.

It answers each request with the default reply (200, or what :meth:`Recorder.reply_with`
set), unless failures were queued: ``fail_next(3, status=500)`` answers the next three
requests with 500, then recovers. Every request is recorded with the status it got, so a
test can tell the accepted deliveries from the refused attempts::

    with Recorder() as server:
        server.fail_next(2, status=429, headers={"Retry-After": "30"})
        ...  # post to server.url("/hook")
        assert [r.status for r in server.requests] == [429, 429, 200]
        server.accepted[0].json()
"""

from __future__ import annotations

import http.server
import json
import sys
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: bytes
    status: int  # what the server answered

    def json(self) -> Any:
        return json.loads(self.body)


class Recorder:
    """Start with :meth:`start` (or ``with``); :meth:`url` gives addresses on it."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._failures: deque[Reply] = deque()
        self._default = Reply()
        self._httpd = _Server(("127.0.0.1", 0), _Handler, self)
        self.port: int = self._httpd.server_address[1]
        self._thread: threading.Thread | None = None

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def reply_with(
        self, status: int = 200, body: bytes | str = b"", headers: dict[str, str] | None = None
    ) -> None:
        """The answer to every request not taken by a queued failure."""
        data = body.encode() if isinstance(body, str) else body
        self._default = Reply(status, data, dict(headers or {}))

    def fail_next(
        self,
        count: int,
        status: int = 500,
        *,
        body: bytes | str = b"",
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next ``count`` requests with ``status`` instead of the default."""
        data = body.encode() if isinstance(body, str) else body
        with self._lock:
            self._failures.extend(Reply(status, data, dict(headers or {})) for _ in range(count))

    @property
    def accepted(self) -> list[Recorded]:
        """The requests answered with a 2xx, in arrival order."""
        with self._lock:
            return [r for r in self.requests if 200 <= r.status < 300]

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Recorded]:
        """Poll until ``count`` requests arrived (or fail after ``timeout``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.requests) >= count:
                    return list(self.requests)
            time.sleep(0.01)
        raise AssertionError(f"expected {count} requests, got {len(self.requests)}")

    def clear(self) -> None:
        with self._lock:
            self.requests.clear()
            self._failures.clear()

    def _next_reply(self) -> Reply:
        with self._lock:
            return self._failures.popleft() if self._failures else self._default

    def _record(self, request: Recorded) -> None:
        with self._lock:
            self.requests.append(request)

    def start(self) -> Recorder:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Recorder:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type, recorder: Recorder) -> None:
        super().__init__(address, handler)
        self.recorder = recorder

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (a timeout under test) is not an error of this server."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        reply = self.server.recorder._next_reply()
        self.server.recorder._record(
            Recorded(
                method=self.command,
                path=self.path,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
                status=reply.status,
            )
        )
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        self.wfile.write(reply.body)

    do_POST = _handle
    do_PUT = _handle
    do_GET = _handle

    def log_message(self, format: str, *args: Any) -> None:
        pass
