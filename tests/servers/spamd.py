"""A real SpamAssassin spamd (Debian's ``spamd``) on a free 127.0.0.1 port, local rules only.

``--local`` turns off DNS and network tests, so verdicts are offline and repeatable.
Under root spamd drops to ``nobody`` and needs a home it can write to. Use::

    with SpamdServer() as (host, port):
        ...

(tests/content/test_spamd.py starts its own the same way; it could use this one.)
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

SPAMD = shutil.which("spamd") or ("/usr/sbin/spamd" if Path("/usr/sbin/spamd").exists() else None)
SKIP_REASON = "spamd not installed (apt-get install spamd)"


class SpamdServer:
    def __init__(self) -> None:
        self.home = Path(tempfile.mkdtemp(prefix="deliverwatch-spamd-"))
        self.home.chmod(0o777)  # spamd drops to nobody when started as root
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = int(sock.getsockname()[1])
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> tuple[str, int]:
        if SPAMD is None:
            raise RuntimeError(SKIP_REASON)
        command = [
            SPAMD,
            f"--listen=127.0.0.1:{self.port}",
            "--local",
            "--nouser-config",
            "--max-children=2",
            "--min-children=1",
            f"--pidfile={self.home / 'spamd.pid'}",
            f"--helper-home-dir={self.home}",
            "--syslog=stderr",
        ]
        if os.geteuid() == 0:
            command.append("--username=nobody")
        log = (self.home / "spamd.log").open("wb")
        self._process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + 90
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"spamd exited: {(self.home / 'spamd.log').read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return "127.0.0.1", self.port
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("spamd did not start listening within 90 s") from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(20)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(5)
        shutil.rmtree(self.home, ignore_errors=True)

    def __enter__(self) -> tuple[str, int]:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
