"""The store fixtures (SQLite file and PostgreSQL schema) for the service tests."""

from tests.servers.postgres import postgres_server  # noqa: F401  (a fixture)
from tests.store.conftest import blank_engine, conn, engine  # noqa: F401  (fixtures)
