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
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from deliverwatch.store.engine import begin_write

if TYPE_CHECKING:
    from alembic.config import Config

HERE = Path(__file__).resolve().parent
#: The newest revision in ``versions/`` (a test checks it is Alembic's head). A store already
#: there is opened without importing Alembic, which costs a third of a second to every
#: command.
HEAD = "0009"
#: Our own version table, so a PostgreSQL database shared with another Alembic app is safe.
VERSION_TABLE = "deliverwatch_schema_version"
#: An arbitrary 64-bit key for pg_advisory_xact_lock ("dw-store" in ASCII).
_PG_LOCK_KEY = 0x64772D73746F7265


def alembic_config(url: str | None = None, connection: Connection | None = None) -> Config:
    """An Alembic config pointing at this directory; ``env.py`` uses ``connection`` when given,
    else an engine for ``url``."""
    from alembic.config import Config

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
    if _at_head(engine):
        return
    from alembic import command

    with begin_write(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
        command.upgrade(alembic_config(connection=conn), "head")


def _at_head(engine: Engine) -> bool:
    """Whether the store is at :data:`HEAD` already, read without a write lock (a revision
    only moves forward, so a store at head stays there)."""
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table(VERSION_TABLE):
            return False
        table = sa.table(VERSION_TABLE, sa.column("version_num"))
        return list(conn.execute(sa.select(table.c.version_num)).scalars()) == [HEAD]


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(conn: Connection) -> str | None:
    """The revision the database is at (None: no deliverwatch tables yet)."""
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()
