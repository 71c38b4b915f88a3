"""A free TCP port on 127.0.0.1 for a test server to listen on."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A port the kernel just handed out and released (servers that cannot take port 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
