"""Schema migrations (Alembic), run from code: no ``alembic.ini`` and no working directory.

``upgrade_to_head(engine)`` brings any database (empty or older) to the current schema and
does nothing on one that is current; the service and the CLI call it before using the store.
Two processes starting at once are serialized: PostgreSQL takes an advisory lock, SQLite a
``BEGIN IMMEDIATE`` write lock, before the version table is read.

A new revision, after changing ``schema.py``::

    python -c "from alembic import command; from deliverwatch.store.migrations import \\
        alembic_config; command.revision(alembic_config('sqlite:///dev.db'), 'what changed', \\
        autogenerate=True)"

(upgrade ``dev.db`` to head first), then rewrite the generated file by hand as needed.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

from deliverwatch.store.engine import begin_write

HERE = Path(__file__).resolve().parent
#: Our own version table, so a PostgreSQL database shared with another Alembic app is safe.
VERSION_TABLE = "deliverwatch_schema_version"
#: An arbitrary 64-bit key for pg_advisory_xact_lock ("dw-store" in ASCII).
_PG_LOCK_KEY = 0x64772D73746F7265


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    """An Alembic config pointing at this directory; ``env.py`` uses ``connection`` when given,
    else an engine for ``url``."""
    config = Config()
    config.set_main_option("script_location", str(HERE))
    config.set_main_option("path_separator", "os")
    if url is not None:
        config.attributes["url"] = url
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade_to_head(engine: Engine) -> None:
    """Create or upgrade the store's tables; idempotent."""
    with begin_write(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        command.upgrade(alembic_config(connection=conn), "head")


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(conn: Connection) -> str | None:
    """The revision the database is at (None: no deliverwatch tables yet)."""
    context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()
