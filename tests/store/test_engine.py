"""Engine set-up: SQLite pragmas for durable acknowledgements, PostgreSQL via psycopg."""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from deliverwatch.store import begin_write, create_engine
from deliverwatch.store.engine import (
    SQLITE_BUSY_TIMEOUT_MS,
    SQLITE_PAGE_SIZE,
    SQLITE_VALUES_PER_INSERT,
    _take_turn,
    driver_executemany,
    driver_insert_rows,
    engine_url,
    upsert_insert,
)


def test_sqlite_connections_are_wal_full_sync_with_busy_timeout_and_foreign_keys(
    tmp_path: Path,
) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with engine.connect() as conn:
            pragma = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar_one()
                for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
            }
    finally:
        engine.dispose()
    assert pragma == {
        "journal_mode": "wal",
        "synchronous": 2,  # FULL
        "busy_timeout": SQLITE_BUSY_TIMEOUT_MS,
        "foreign_keys": 1,
    }


def test_a_new_sqlite_store_gets_big_pages_and_an_existing_one_keeps_its_own(
    tmp_path: Path,
) -> None:
    older = tmp_path / "older.db"
    with sqlite3.connect(older) as made:  # as a store made before the change: 4 KB pages
        made.execute("PRAGMA journal_mode=WAL")
        made.execute("CREATE TABLE kept (n INTEGER)")
        made.execute("INSERT INTO kept VALUES (7)")
    sizes = {}
    for path in (tmp_path / "new.db", older):
        engine = create_engine(f"sqlite:///{path}")
        try:
            with begin_write(engine) as conn:
                conn.exec_driver_sql("CREATE TABLE IF NOT EXISTS kept (n INTEGER)")
                conn.exec_driver_sql("INSERT INTO kept VALUES (8)")
            with engine.connect() as conn:
                sizes[path.name] = conn.exec_driver_sql("PRAGMA page_size").scalar_one()
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar_one() == "wal"
                assert conn.exec_driver_sql("PRAGMA integrity_check").scalar_one() == "ok"
        finally:
            engine.dispose()
    assert sizes == {"new.db": SQLITE_PAGE_SIZE, "older.db": 4096}
    with sqlite3.connect(older) as check:
        assert check.execute("SELECT n FROM kept ORDER BY n").fetchall() == [(7,), (8,)]


def test_none_binds_as_null_through_the_shortcut_adapter(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'nulls.db'}")
    try:
        # The shortcut: an adapter for None is found before the slow protocol lookup.
        adapter = sqlite3.adapters.get((type(None), sqlite3.PrepareProtocol))
        assert adapter is not None and adapter(None) is None
        with begin_write(engine) as conn:
            conn.exec_driver_sql("CREATE TABLE t (a TEXT, b INTEGER, c TEXT)")
            conn.exec_driver_sql(
                "INSERT INTO t VALUES (?, ?, ?)", [("x", None, None), (None, 2, "")]
            )
        with engine.connect() as conn:
            kinds = conn.exec_driver_sql(
                "SELECT typeof(a), typeof(b), typeof(c) FROM t ORDER BY rowid"
            ).all()
            nulls = conn.exec_driver_sql("SELECT count(*) FROM t WHERE b IS NULL").scalar_one()
    finally:
        engine.dispose()
    assert kinds == [("text", "null", "null"), ("null", "integer", "text")]
    assert nulls == 1


def test_sqlite_reads_are_not_blocked_by_a_writer(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with begin_write(engine) as conn:
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        with begin_write(engine) as writer:
            writer.exec_driver_sql("INSERT INTO t VALUES (2)")
            with engine.connect() as reader:  # WAL: sees the last commit, does not wait
                assert reader.exec_driver_sql("SELECT count(*) FROM t").scalar_one() == 1
        with engine.connect() as reader:
            assert reader.exec_driver_sql("SELECT count(*) FROM t").scalar_one() == 2
    finally:
        engine.dispose()


def test_sqlite_rollback_undoes_the_transaction(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with begin_write(engine) as conn:
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        with pytest.raises(RuntimeError), begin_write(engine) as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
            raise RuntimeError
        with engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM t").scalar_one() == 0
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("sqlite:///deliverwatch.db", "sqlite"),
        ("postgresql://u:p@db/dw", "postgresql+psycopg"),
        ("postgres://u:p@db/dw", "postgresql+psycopg"),
        ("postgresql+psycopg://u@db/dw", "postgresql+psycopg"),
    ],
)
def test_engine_url_picks_the_driver(given: str, driver: str) -> None:
    assert engine_url(given).drivername == driver


def test_unsupported_databases_are_refused() -> None:
    with pytest.raises(ValueError, match="unsupported database 'mysql'"):
        create_engine("mysql://u@db/dw")


def test_postgresql_engine_uses_psycopg() -> None:
    engine = create_engine("postgresql://u:p@127.0.0.1:1/dw")
    assert engine.dialect.driver == "psycopg"
    assert isinstance(engine, sa.Engine)
    engine.dispose()


def test_fast_sqlite_time_format_equals_sqlalchemys(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from deliverwatch.store.engine import bind_processor, time_to_driver
    from deliverwatch.store.schema import events

    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        with engine.connect() as conn:
            fast, generic = time_to_driver(conn), bind_processor(conn, events.c.occurred_at)
            assert generic is not None
            for moment in (
                datetime(2025, 3, 10, 12, 30, 15, 123456, tzinfo=UTC),
                datetime(2025, 3, 10, 0, 0, tzinfo=UTC),
                datetime(1999, 12, 31, 23, 59, 59, 1, tzinfo=UTC),
            ):
                assert fast(moment) == generic(moment)
    finally:
        engine.dispose()


def test_sqlite_writers_take_turns_through_a_lock_file(tmp_path: Path) -> None:
    """A writer waits for the one before it (blocked in flock, woken when it is done), gives
    up after its timeout, and a writer given up on lets go of the lock when it gets it."""
    path = str(tmp_path / "store.db-writer.lock")
    holder = _take_turn(path, 1)
    assert holder is not None
    assert _take_turn(path, 0.01) is None, "busy: given up after the timeout"
    waited: list[int | None] = []
    waiter = threading.Thread(target=lambda: waited.append(_take_turn(path, 30)))
    waiter.start()
    os.close(holder)  # the holder is done: the waiter (and the abandoned helper) go on
    waiter.join(30)
    assert waited and waited[0] is not None
    os.close(waited[0])
    last = _take_turn(path, 30)  # nobody keeps it: the abandoned helper let go
    assert last is not None
    os.close(last)


def test_begin_write_takes_the_turn_on_a_sqlite_file(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        with begin_write(engine) as conn:
            conn.exec_driver_sql("CREATE TABLE t (x)")
            assert _take_turn(f"{tmp_path / 'store.db'}-writer.lock", 0.01) is None
        free = _take_turn(f"{tmp_path / 'store.db'}-writer.lock", 0.01)
        assert free is not None
        os.close(free)
    finally:
        engine.dispose()


_ROWS_TABLE = sa.Table(
    "rows_test",
    sa.MetaData(),
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("k", sa.String, nullable=False, unique=True),
    sa.Column("v", sa.String),
    sa.Column("n", sa.Integer),
)


@pytest.mark.parametrize("extra", [-1, 0, 1, 7])
def test_many_rows_a_statement_store_what_one_a_row_stores(engine: Engine, extra: int) -> None:
    """``driver_insert_rows`` (many rows a statement on SQLite) and ``driver_executemany``
    store the same rows in the same order, keep the first of two with one key and count only
    the new ones: around the statement size and across whole statements."""
    per = SQLITE_VALUES_PER_INSERT // 3
    count = 2 * per + extra
    keys = [f"k{i}" for i in range(count - 5)] + [f"k{i}" for i in range(2, 7)]
    keys[1] = "k0"  # a repeat within one statement; the last five repeat earlier statements'
    rows = [(key, f"v{i}", None if i % 3 else i) for i, key in enumerate(keys)]
    statement = upsert_insert(engine.dialect.name, _ROWS_TABLE).on_conflict_do_nothing(
        index_elements=["k"]
    )
    stored = {}
    for insert in (driver_executemany, driver_insert_rows):
        _ROWS_TABLE.metadata.drop_all(engine)
        _ROWS_TABLE.metadata.create_all(engine)
        with engine.begin() as conn:
            assert insert(conn, statement, ("k", "v", "n"), rows) == count - 6
            assert insert(conn, statement, ("k", "v", "n"), rows[:3]) == 0  # all stored before
            stored[insert] = conn.execute(sa.select(_ROWS_TABLE).order_by("id")).all()
    assert stored[driver_insert_rows] == stored[driver_executemany]
    assert [row.v for row in stored[driver_insert_rows]] == [
        f"v{i}" for i in range(count - 5) if i != 1
    ]


def test_a_literal_goes_into_every_row_of_many_a_statement(engine: Engine) -> None:
    mark = "-9100000000000000001"
    statement = upsert_insert(engine.dialect.name, _ROWS_TABLE).values(n=sa.literal_column(mark))
    rows = [(f"k{i}", f"v{i}") for i in range(SQLITE_VALUES_PER_INSERT)]
    _ROWS_TABLE.metadata.create_all(engine)
    with engine.begin() as conn:
        assert driver_insert_rows(conn, statement, ("k", "v"), rows, literals={mark: "42"}) == 999
        assert conn.execute(sa.select(sa.func.count()).where(_ROWS_TABLE.c.n == 42)).scalar() == 999


def test_many_rows_a_statement_only_in_a_transaction_and_errors_as_sqlalchemys(
    engine: Engine,
) -> None:
    """Outside a transaction SQLAlchemy began, the rows go through ``executemany``, so a
    rollback undoes them; a driver error comes out as SQLAlchemy's, as from it."""
    statement = sa.insert(_ROWS_TABLE)
    _ROWS_TABLE.metadata.create_all(engine)
    with engine.connect() as conn:
        driver_insert_rows(conn, statement, ("k", "v"), [("a", "1"), ("b", "2"), ("c", "3")])
        conn.rollback()
        assert conn.execute(sa.select(sa.func.count()).select_from(_ROWS_TABLE)).scalar() == 0
    with engine.begin() as conn, pytest.raises(sa.exc.IntegrityError):
        driver_insert_rows(conn, statement, ("k", "v"), [("a", "1"), ("a", "2")])
