"""A real rspamd (Debian's ``rspamd``) on a free 127.0.0.1 port: one normal worker, no service.

The packaged configuration is used as shipped (``$CONFDIR`` = ``/etc/rspamd``: the same
rules, scores and actions as a default install), with our own top-level file in a temporary
directory instead of ``/etc/rspamd/rspamd.conf``: only the ``normal`` worker (the one that
answers ``/checkv2``; no controller, proxy or fuzzy storage), logs, pid, statistics and
history in the temporary directory, DNS sent to the given resolver (the tests' DNS server,
so no query leaves the machine) and no Redis (rspamd disables the modules that need it).

Start-up compiles rspamd's regular expressions and the Public Suffix List into Hyperscan
databases: about a minute on a busy 2-CPU machine the first time, seconds when the cache
directory (``hs_cache``, kept between runs by the caller) has them. Under root the workers
run as root (``-u root -g root``), which rspamd otherwise refuses; elsewhere they run as the
calling user. Use::

    with RspamdServer(nameserver="127.0.0.1:5353", hs_cache=path) as url:
        ...  # url = "http://127.0.0.1:PORT"
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

from tests.servers.ports import free_port

RSPAMD = shutil.which("rspamd") or ("/usr/bin/rspamd" if Path("/usr/bin/rspamd").exists() else None)
SKIP_REASON = "rspamd not installed (apt-get install --no-install-recommends rspamd)"
CONFDIR = Path("/etc/rspamd")

CONFIG = """\
# deliverwatch tests: the packaged rules, one normal worker, nothing outside {tmp}.
.include "$CONFDIR/common.conf"

options {{
    pidfile = "$RUNDIR/rspamd.pid";
    filters = "chartable,dkim,regexp,fuzzy_check";
    url_tld = "${{SHAREDIR}}/effective_tld_names.dat";
    explicit_modules = ["settings", "bayes_expiry"];
    allow_raw_input = true;
    cache_file = "$DBDIR/symbols.cache";
    history_file = "$DBDIR/rspamd.history";
    stats_file = "$DBDIR/stats.ucl";
    hs_cache_dir = "{hs_cache}/";
    task_timeout = 20s;
    dns {{
        nameserver = ["{nameserver}"];
        timeout = 1s;
        retransmits = 1;
    }}
}}

logging {{
    type = "file";
    filename = "$LOGDIR/rspamd.log";
    level = "notice";
}}

worker "normal" {{
    bind_socket = "127.0.0.1:{port}";
    .include "$CONFDIR/worker-normal.inc"
    count = 1;
}}
"""


class RspamdServer:
    def __init__(
        self, *, nameserver: str, hs_cache: Path | None = None, start_timeout: float = 300.0
    ) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="deliverwatch-rspamd-"))
        self.hs_cache = hs_cache or self.dir / "hs"
        self.hs_cache.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.start_timeout = start_timeout
        self.config = self.dir / "rspamd.conf"
        self.config.write_text(
            CONFIG.format(
                tmp=self.dir, hs_cache=self.hs_cache, nameserver=nameserver, port=self.port
            )
        )
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, chars: int = 3000) -> str:
        """The end of rspamd's own log and of its stdout/stderr, for failure messages."""
        parts = []
        for name in ("rspamd.log", "stdout.log"):
            path = self.dir / name
            if path.exists():
                parts.append(f"--- {name}:\n{path.read_text(errors='replace')[-chars:]}")
        return "\n".join(parts) or "(no log written)"

    def start(self) -> str:
        if RSPAMD is None:
            raise RuntimeError(SKIP_REASON)
        command = [RSPAMD, "-f", "-c", str(self.config)]
        if os.geteuid() == 0:
            command += ["-u", "root", "-g", "root"]
        command += [
            f"--var=CONFDIR={CONFDIR}",
            f"--var=LOCAL_CONFDIR={self.dir}",
            f"--var=RUNDIR={self.dir}",
            f"--var=DBDIR={self.dir}",
            f"--var=LOGDIR={self.dir}",
        ]
        with (self.dir / "stdout.log").open("wb") as out:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its workers form a group we can stop together
            )
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self._process.poll() is not None:
                code = self._process.returncode
                raise RuntimeError(f"rspamd exited with {code} at start:\n{self.log_tail()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self.url
            except OSError:
                if time.monotonic() > deadline:
                    tail = self.log_tail()
                    self.stop()
                    raise RuntimeError(
                        f"rspamd did not listen on port {self.port} within "
                        f"{self.start_timeout:.0f} s:\n{tail}"
                    ) from None
                time.sleep(0.25)

    def stop(self) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()  # the main process stops its workers on SIGTERM
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        if process is not None:
            with contextlib.suppress(ProcessLookupError):  # workers left by a main that died
                os.killpg(process.pid, signal.SIGKILL)
        self._process = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> str:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
