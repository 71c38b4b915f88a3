"""Migrations: an empty database reaches head, a second run changes nothing, and the migrated
schema is exactly ``schema.py``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

from deliverwatch.store import begin_write, upgrade_to_head
from deliverwatch.store.migrations import (
    HEAD,
    VERSION_TABLE,
    alembic_config,
    current_revision,
    head_revision,
)
from deliverwatch.store.schema import metadata


def test_upgrade_creates_every_table_on_an_empty_database(blank_engine: Engine) -> None:
    with blank_engine.connect() as conn:
        assert current_revision(conn) is None
    upgrade_to_head(blank_engine)
    tables = set(sa.inspect(blank_engine).get_table_names())
    assert tables == set(metadata.tables) | {VERSION_TABLE}
    with blank_engine.connect() as conn:
        assert current_revision(conn) == head_revision() == HEAD


def test_upgrade_is_idempotent_and_keeps_data(blank_engine: Engine) -> None:
    upgrade_to_head(blank_engine)
    meta = metadata.tables["store_meta"]
    with begin_write(blank_engine) as conn:
        conn.execute(meta.insert().values(key="k", value="v"))
    upgrade_to_head(blank_engine)
    upgrade_to_head(blank_engine)
    with blank_engine.connect() as conn:
        assert conn.execute(sa.select(meta.c.value)).scalar_one() == "v"
        assert (
            conn.execute(
                sa.select(sa.func.count()).select_from(sa.table(VERSION_TABLE))
            ).scalar_one()
            == 1
        )


def test_migrated_schema_matches_schema_py(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "version_table": VERSION_TABLE}
        )
        assert compare_metadata(context, metadata) == []


def test_downgrade_to_base_and_back(engine: Engine) -> None:
    with begin_write(engine) as conn:
        command.downgrade(alembic_config(connection=conn), "base")
    assert set(sa.inspect(engine).get_table_names()) == {VERSION_TABLE}
    upgrade_to_head(engine)
    assert set(sa.inspect(engine).get_table_names()) == set(metadata.tables) | {VERSION_TABLE}


def test_a_store_at_head_opens_without_importing_alembic(tmp_path: Path) -> None:
    """Every command opens the store; Alembic (a third of a second) only when it must
    migrate. Run in a fresh interpreter: this one imported Alembic long ago."""
    url = f"sqlite:///{tmp_path / 'dw.db'}"
    script = (
        "import sys; from deliverwatch.store import open_store; "
        f"open_store({url!r}).dispose(); print('alembic' in sys.modules)"
    )
    first = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    again = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert (first.stdout.strip(), again.stdout.strip()) == ("True", "False"), first.stderr
