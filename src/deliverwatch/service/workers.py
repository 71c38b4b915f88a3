"""``serve --workers N``: N server processes, each listening on its own socket.

uvicorn's supervisor shares one listening socket among its workers, and an event loop accepts
every waiting connection when it wakes. So a burst of keep-alive connections, such as an ESP
or a load balancer opens, lands on one or two processes. Each process runs on one core at a
time, so the busiest one caps the service while the others idle (measured:
docs/benchmarks-service.md). Here each worker binds the port with ``SO_REUSEPORT``, and the
kernel spreads new connections over the workers' sockets by their addresses.

The supervisor restarts a worker that dies, forwards SIGINT and SIGTERM to the workers and
waits for their graceful shutdown. It stops everything if a worker exits by itself at start
(the port is taken, the configuration is broken: restarting would fail the same way), or if
workers keep dying.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from types import FrameType

log = logging.getLogger("deliverwatch.serve")

#: A worker that dies within this many seconds of its start failed to start.
STARTUP_SECONDS = 10.0
#: More restarts than this within a minute: something kills every worker; stop.
MAX_RESTARTS_A_MINUTE = 5
#: How long the workers get to finish their requests and queued writes on shutdown.
GRACE_SECONDS = 25.0


def port_is_free(host: str, port: int) -> bool:
    """Whether ``host:port`` can be bound by a socket *without* ``SO_REUSEPORT``: not when
    another program, or another deliverwatch service, listens there (the workers' own
    option would otherwise let them join it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def supervise(processes: int, host: str, port: int) -> int:
    """Run ``processes`` workers until SIGINT or SIGTERM; the exit code for the command."""
    stopping = False
    children: dict[int, tuple[subprocess.Popen[bytes], float]] = {}
    restarts: list[float] = []  # when workers were started again, over the last minute

    def start() -> None:
        child = subprocess.Popen(  # noqa: S603  (our own interpreter and module, no shell)
            [sys.executable, "-m", "deliverwatch.service.workers", host, str(port)]
        )
        children[child.pid] = (child, time.monotonic())

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        for child, _ in children.values():
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signal.SIGTERM)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    code = 0
    try:
        for _ in range(processes):
            start()
        while children:
            pid, status = os.wait()  # resumed after a signal's handler (PEP 475)
            entry = children.pop(pid, None)
            if entry is None:
                continue
            exit_code = os.waitstatus_to_exitcode(status)
            entry[0].returncode = exit_code  # reaped here, not by Popen.wait()
            if stopping:
                continue
            now = time.monotonic()
            restarts = [at for at in restarts if now - at < 60] + [now]
            # Exited by itself at start: the port, the configuration, the store. Restarting
            # would fail the same way. Killed (the OOM killer), or later: start another.
            failed_start = exit_code >= 0 and now - entry[1] < STARTUP_SECONDS
            if failed_start or len(restarts) > MAX_RESTARTS_A_MINUTE:
                log.error("worker %d ended (exit code %s): stopping the service", pid, exit_code)
                code = 1
                stop(signal.SIGTERM, None)
                continue
            log.warning("worker %d ended (exit code %s): starting another", pid, exit_code)
            start()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        deadline = time.monotonic() + GRACE_SECONDS
        for child, _ in children.values():
            try:
                child.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()
    return code


def _die_with_parent() -> None:
    """Linux: SIGTERM this worker when the supervisor dies, even by SIGKILL."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() == 1:  # the supervisor died before the call above
        raise SystemExit(1)


def main(argv: list[str]) -> None:
    """A worker: ``HOST PORT``; the configuration comes from the environment, as the
    supervisor's ``serve`` command set it (see ``service.app.app_from_environment``)."""
    import uvicorn

    host, port = argv[0], int(argv[1])
    _die_with_parent()
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        listener.bind((host, port))
    except OSError as exc:
        raise SystemExit(f"cannot listen on {host}:{port}: {exc}") from None
    listener.set_inheritable(True)
    config = uvicorn.Config(
        "deliverwatch.service.app:app_from_environment",
        factory=True,
        log_level="info",
        access_log=False,
        timeout_graceful_shutdown=20,
    )
    uvicorn.Server(config).run(sockets=[listener])


if __name__ == "__main__":
    main(sys.argv[1:])
