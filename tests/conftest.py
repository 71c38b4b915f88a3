"""Shared fixtures: a real DNS server on 127.0.0.1 serving ``tests/zones/*.zone``.

Names that misbehave on purpose (every test zone may use them):

* ``*.timeout.test`` and ``timeout.test``: never answered (clients time out)
* ``*.servfail.test``: SERVFAIL
* ``*.refused.test``: REFUSED
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from deliverwatch.dns import Resolver
from tests.servers.dnsserver import ZONES_DIR, DNSServer, load_zones

MISBEHAVING = {"timeout.test": "drop", "servfail.test": "servfail", "refused.test": "refused"}


@pytest.fixture(scope="session")
def dns_server() -> Iterator[DNSServer]:
    server = DNSServer(load_zones(sorted(ZONES_DIR.glob("*.zone"))))
    for name, behaviour in MISBEHAVING.items():
        server.behave(name, behaviour)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def resolver(dns_server: DNSServer) -> Resolver:
    """A fresh per-test resolver (its own cache) pointed at the test server; short timeout."""
    return Resolver([dns_server.address], timeout=0.3, retries=1)
