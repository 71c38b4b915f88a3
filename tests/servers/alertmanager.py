"""A real Prometheus Alertmanager on 127.0.0.1 (Debian's ``prometheus-alertmanager``).

It runs from a throwaway config (one receiver that sends nowhere) and storage directory,
clustering off, on a free port; ``url`` is its base URL and :meth:`alerts` reads
``GET /api/v2/alerts`` back. Without the binary the tests using it are skipped, except under
``CI`` where they fail: a CI that silently skipped them would hide a missing install step.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers.ports import free_port

BINARY = "prometheus-alertmanager"
CONFIG = """\
route:
  receiver: nowhere
  group_wait: 1h
receivers:
  - name: nowhere
"""


class AlertmanagerServer:
    def __init__(self, binary: str) -> None:
        self._dir = Path(tempfile.mkdtemp(prefix="deliverwatch-am-"))
        (self._dir / "alertmanager.yml").write_text(CONFIG)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._stderr = open(self._dir / "stderr.log", "wb")  # noqa: SIM115 - closed in stop()
        self._process = subprocess.Popen(
            [
                binary,
                f"--config.file={self._dir / 'alertmanager.yml'}",
                f"--storage.path={self._dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
                "--log.level=warn",
            ],
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )

    def wait_ready(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"alertmanager exited: {self.log()}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.05)
        raise RuntimeError(f"alertmanager not ready after {timeout}s: {self.log()}")

    def alerts(self, **params: str) -> list[dict[str, Any]]:
        query = "&".join(f"{k}={v}" for k, v in params.items())
        with urllib.request.urlopen(f"{self.url}/api/v2/alerts?{query}", timeout=5) as response:
            data: list[dict[str, Any]] = json.load(response)
            return data

    def log(self) -> str:
        path = self._dir / "stderr.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._stderr.close()
        shutil.rmtree(self._dir, ignore_errors=True)


@pytest.fixture(scope="session")
def alertmanager_server() -> Iterator[AlertmanagerServer]:
    binary = shutil.which(BINARY)
    if binary is None:
        reason = f"{BINARY} not installed (Debian package prometheus-alertmanager)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    server = AlertmanagerServer(binary)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()
