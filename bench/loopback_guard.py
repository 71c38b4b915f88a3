"""Keep a benchmark process off the network: only loopback addresses may be reached.

The benchmark must send traffic to 127.0.0.1 and nowhere else. Both tools are pointed at the
local server explicitly, but a forgotten code path (an HTTPS fetch, a fallback to the system
resolver in /etc/resolv.conf) would leave the machine. :func:`install` makes every such attempt
fail at once with an OSError, and counts it, so a stray path neither escapes nor skews a timing
by waiting for a timeout. Used by ``run_checkdmarc.py`` and the in-process deliverwatch run, and
loaded into the ``deliverwatch`` CLI subprocess through ``bench/guard/sitecustomize.py``.

Runs under both the project's venv and checkdmarc's, so it uses the standard library only.
"""

from __future__ import annotations

import atexit
import errno
import ipaddress
import socket
import sys
from typing import Any

#: Attempts refused so far, as (operation, target) pairs.
BLOCKED: list[tuple[str, str]] = []
_installed = False


def _is_loopback(host: object) -> bool:
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    if not isinstance(host, str):
        return False
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _refuse(operation: str, target: object) -> OSError:
    BLOCKED.append((operation, repr(target)))
    if len(BLOCKED) == 1:
        print(f"loopback guard: refused {operation} to {target!r}", file=sys.stderr, flush=True)
    return OSError(errno.ENETUNREACH, f"loopback guard: {operation} to {target!r} refused")


def _check_address(operation: str, address: Any) -> None:
    if isinstance(address, tuple) and address and not _is_loopback(address[0]):
        raise _refuse(operation, address)


def _summary() -> None:
    if BLOCKED:
        print(f"loopback guard: {len(BLOCKED)} non-loopback attempts refused", file=sys.stderr)


def install() -> None:
    """Patch socket so that only loopback destinations (and no name lookups) are possible."""
    global _installed
    if _installed:
        return
    _installed = True
    atexit.register(_summary)
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_sendto = socket.socket.sendto

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        # A name other than localhost would be resolved through /etc/resolv.conf.
        if host is not None and not _is_loopback(host):
            BLOCKED.append(("getaddrinfo", repr(host)))
            raise socket.gaierror(socket.EAI_NONAME, f"loopback guard: lookup of {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    def connect(self: socket.socket, address: Any) -> None:
        _check_address("connect", address)
        return real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        _check_address("connect", address)
        return real_connect_ex(self, address)

    def sendto(self: socket.socket, data: Any, *args: Any) -> int:
        _check_address("sendto", args[-1])
        return real_sendto(self, data, *args)

    def gethostbyname(host: str) -> str:
        if not _is_loopback(host):
            BLOCKED.append(("gethostbyname", repr(host)))
            raise socket.gaierror(socket.EAI_NONAME, f"loopback guard: lookup of {host!r}")
        return "127.0.0.1" if host == "localhost" else host

    socket.getaddrinfo = getaddrinfo
    socket.gethostbyname = gethostbyname
    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.socket.sendto = sendto  # type: ignore[method-assign, assignment]
