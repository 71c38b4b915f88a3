"""Shared fixtures: a real DNS server on 127.0.0.1 serving ``tests/zones/*.zone``, and the
store on both dialects (``engine``: a migrated SQLite file, then a fresh schema on the
throwaway PostgreSQL server of ``tests/servers/postgres.py``).

Names that misbehave on purpose (every test zone may use them):

* ``*.timeout.test`` and ``timeout.test``: never answered (clients time out)
* ``*.servfail.test``: SERVFAIL
* ``*.refused.test``: REFUSED
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import Connection, Engine

from deliverwatch import native
from deliverwatch.dns import Resolver
from deliverwatch.store import begin_write, create_engine, upgrade_to_head
from tests.servers.dnsserver import ZONES_DIR, DNSServer, load_zones
from tests.servers.postgres import postgres_server  # noqa: F401  (a fixture)

MISBEHAVING = {"timeout.test": "drop", "servfail.test": "servfail", "refused.test": "refused"}


def pytest_sessionstart(session: pytest.Session) -> None:
    """Refuse to test compiled modules older than their source: the old code would run."""
    if native.pure_python_requested() or not native.in_source_tree():
        return
    if stale := native.stale_modules():
        root = Path(native.__file__).parents[2]
        names = ", ".join(str(path.relative_to(root)) for path in stale)
        pytest.exit(f"edited since compiled: {names}. Compile them again: make install", 2)


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


DIALECTS = ["sqlite", "postgresql"]


@pytest.fixture(params=DIALECTS)
def blank_engine(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """An engine on an empty database (no tables)."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("store") / "deliverwatch.db"
        engine = create_engine(f"sqlite:///{path}")
        yield engine
        engine.dispose()
        return
    server = request.getfixturevalue("postgres_server")
    url = server.create_schema()
    engine = create_engine(url)
    yield engine
    engine.dispose()
    server.drop_schema(url)


@pytest.fixture
def engine(blank_engine: Engine) -> Engine:
    """An engine on a database migrated to head."""
    upgrade_to_head(blank_engine)
    return blank_engine


@pytest.fixture
def conn(engine: Engine) -> Iterator[Connection]:
    """A write transaction, committed at the end of the test."""
    with begin_write(engine) as connection:
        yield connection
