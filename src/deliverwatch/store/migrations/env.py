"""Alembic's entry point: runs the migrations on the connection ``upgrade_to_head`` hands over
(or on an engine for the ``url`` attribute, for ``command.revision(..., autogenerate=True)``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from deliverwatch.store.engine import create_engine
from deliverwatch.store.migrations import VERSION_TABLE
from deliverwatch.store.schema import metadata


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    config = context.config
    connection = config.attributes.get("connection")
    if connection is not None:
        run(connection)
        return
    url = config.attributes.get("url")
    if url is None:
        raise RuntimeError("run migrations through deliverwatch.store.upgrade_to_head(engine)")
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            run(conn)
    finally:
        engine.dispose()


main()
