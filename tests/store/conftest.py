"""Every store test runs twice: on SQLite (a real file in tmp_path) and on PostgreSQL (a fresh
schema on the throwaway server of ``tests/servers/postgres.py``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.engine import Connection, Engine

from deliverwatch.store import begin_write, create_engine, upgrade_to_head
from tests.servers.postgres import postgres_server  # noqa: F401  (a fixture)

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
