"""Engines for ``database_url``: SQLite (the default, one file) or PostgreSQL (psycopg 3).

SQLite connections are set up for a store that acknowledges webhooks:

* ``journal_mode=WAL``: readers (the dashboard, ``stats``) never block the writer, nor it them.
* ``synchronous=FULL``: in WAL mode ``NORMAL`` skips the fsync of the WAL at commit, so a power
  cut can lose transactions that already committed. An ESP whose webhook we answered 200 will
  not send that event again, so a lost commit is a lost event: an acknowledgement must mean the
  event is on disk. FULL costs one fsync per transaction, not per event (ingest batches).
* ``busy_timeout``: a second writer waits for the lock instead of failing at once.
* ``foreign_keys=ON``: SQLite ignores foreign keys unless asked, per connection.
* ``None`` binds as NULL without the "adapt" protocol (:func:`_bind_none_directly`).
* ``page_size=16384`` for a new file (an existing store keeps its own: SQLite cannot change it
  in WAL mode). A commit writes each changed page as a WAL frame, a write each: 16 KB pages
  make a quarter as many. On the standard 94 MB SendGrid import the commit took 0.7 s instead
  of 1.0 s and the inserts took no longer (docs/benchmarks-events.md).

pysqlite's own transaction handling (``BEGIN`` only before the first INSERT/UPDATE/DELETE) is
switched off and SQLAlchemy's ``begin`` emits ``BEGIN`` itself, so reads belong to the
transaction too and DDL is transactional. :func:`begin_write` opens ``BEGIN IMMEDIATE``, which
takes the write lock up front: a transaction that reads and then writes cannot fail midway with
"database is locked" because another writer committed in between.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from itertools import chain
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, Connection, Dialect, Engine
from sqlalchemy.sql.compiler import SQLCompiler

from deliverwatch.events.rows import sqlite_time

#: Milliseconds a SQLite writer waits for the lock before "database is locked".
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: The page size of a new SQLite store (see the module docstring).
SQLITE_PAGE_SIZE = 16_384
#: The engines made here that are still alive, for :func:`dispose_engines`.
_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()
_BEGIN_OPTION = "deliverwatch_sqlite_begin"
#: The PostgreSQL advisory lock key store writers share ("dw-write" in ASCII).
WRITER_LOCK_KEY = 0x64772D7772697465


def engine_url(url: str | URL) -> URL:
    """``url`` with the driver deliverwatch uses: ``postgresql://`` (and Heroku-style
    ``postgres://``) become ``postgresql+psycopg://``; other URLs are kept as given."""
    if isinstance(url, str) and url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    parsed = sa.make_url(url)
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def create_engine(url: str | URL, *, echo: bool = False) -> Engine:
    """An engine for ``url`` (SQLite or PostgreSQL), set up as the module docstring explains."""
    parsed = engine_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        _bind_none_directly()
        engine = sa.create_engine(parsed, echo=echo)
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    elif backend == "postgresql":
        engine = sa.create_engine(
            parsed,
            echo=echo,
            pool_pre_ping=True,
            connect_args={"application_name": "deliverwatch"},
        )
    else:
        raise ValueError(
            f"database_url: unsupported database {backend!r} (use sqlite or postgresql)"
        )
    _ENGINES.add(engine)
    return engine


def dispose_engines() -> None:
    """Close the pooled connections of every engine still alive: what a process does before
    it exits without the interpreter's garbage collection (``cli.main``). On SQLite the last
    connection to close checkpoints the WAL into the file and removes it."""
    for engine in list(_ENGINES):
        engine.dispose()


@contextmanager
def begin_write(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction meant to write: ``BEGIN IMMEDIATE`` on SQLite.

    Commits when the block ends, rolls back on an exception::

        with begin_write(engine) as conn:
            insert_events(conn, events)
    """
    with (
        _writer_turn(engine),
        engine.connect().execution_options(**{_BEGIN_OPTION: "IMMEDIATE"}) as conn,
        conn.begin(),
    ):
        yield conn


@contextmanager
def _writer_turn(engine: Engine) -> Iterator[None]:
    """Writers to one SQLite file take turns through an ``flock`` on ``<file>-writer.lock``.

    SQLite's own wait for its write lock (``busy_timeout``) sleeps 1, 2, 5, 10, … up to 100 ms
    between tries: two service processes sharing a store (``serve --workers 2``) spent more
    time asleep than writing, and every webhook's latency showed it. A writer blocked in
    ``flock`` wakes as soon as the one before it is done. It gives up after the same
    ``busy_timeout`` (then ``BEGIN IMMEDIATE`` waits and reports the lock as it would have).
    Nothing on PostgreSQL (``lock_store_for_writing``) or for in-memory databases.
    """
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:"):
        yield
        return
    try:
        fd = _take_turn(f"{database}-writer.lock", SQLITE_BUSY_TIMEOUT_MS / 1000)
    except OSError:  # no lock file (a read-only directory): SQLite's own locking only
        fd = None
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)  # releases the lock


def _take_turn(path: str, timeout: float) -> int | None:
    """A descriptor holding an exclusive ``flock`` on ``path``; None after ``timeout``."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return fd
    except BlockingIOError:
        pass
    # A blocking flock has no timeout: a helper thread blocks in it (without the GIL) while
    # this one waits for it, at most ``timeout``. Given up on, the helper lets go of the lock
    # (closing its descriptor) as soon as it gets it.
    got, guard = threading.Event(), threading.Lock()
    abandoned = False

    def wait() -> None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        with guard:
            if abandoned:
                os.close(fd)
            else:
                got.set()

    threading.Thread(target=wait, name="sqlite-writer-turn", daemon=True).start()
    if got.wait(timeout):
        return fd
    with guard:
        if got.is_set():
            return fd
        abandoned = True
    return None


#: Returns None for any argument, in C: an empty dict's ``get`` (a Python function would cost
#: a frame per ``None``, a fifth of what the adapter saves).
_NONE_FOR_NONE = cast(Callable[[object], None], {}.get)


def _bind_none_directly() -> None:
    """Make the sqlite3 module bind ``None`` as NULL at once.

    Python 3.11's sqlite3 treats every parameter that is not an int, float, str or bytearray
    as a value to adapt, ``None`` included: it looks for an adapter, then for ``__adapt__`` on
    its protocol class, whose lookup fails by raising (and formatting) an AttributeError,
    cleared again. That cost ~2,200 instructions per ``None``: a SendGrid row has three, 17% of
    its whole insert (``bench/parse_instructions.py --phases insert``). A registered adapter is
    found first, and this one hands ``None`` back, which binds as NULL as before. It is
    process-wide and changes no value, so it is safe for every connection.
    """
    sqlite3.register_adapter(type(None), _NONE_FOR_NONE)


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # no implicit BEGIN: see _sqlite_begin
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA page_size={SQLITE_PAGE_SIZE}")  # before WAL: a new file only
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _sqlite_begin(conn: Connection) -> None:
    mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
    if mode not in ("DEFERRED", "IMMEDIATE"):
        raise ValueError(f"unknown SQLite transaction mode {mode!r}")
    conn.exec_driver_sql(f"BEGIN {mode}")


def lock_store_for_writing(conn: Connection) -> None:
    """Serialize store writers until this transaction ends.

    On PostgreSQL an ingest spanning several batches takes row locks (unique-index entries,
    rollup rows) in an order no sort can make global, so two concurrent ingests, or an import
    and a webhook, could deadlock; one transaction-scoped advisory lock makes writers take turns,
    as SQLite's single writer lock does. Each writer works in batches, so taking turns costs
    little; a long import should commit every few batches so webhooks are not kept waiting.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITER_LOCK_KEY})


#: SQLite's page cache while events are stored, in KiB. The unique index of a store of millions
#: of events is far bigger than the default 2 MB: each insert at a random key would read its
#: page back from the file (measured: 10-15% of a 256 MB import). Bounded, so memory stays flat.
BULK_CACHE_KIB = 65_536


@contextmanager
def bulk_page_cache(conn: Connection) -> Iterator[None]:
    """A bigger SQLite page cache (:data:`BULK_CACHE_KIB`) for the block, then the
    connection's own again. Nothing on PostgreSQL."""
    if conn.dialect.name != "sqlite":
        yield
        return
    previous = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql(f"PRAGMA cache_size=-{BULK_CACHE_KIB}")
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size={int(previous or 0)}")


def upsert_insert(conn: Connection | str, table: sa.Table) -> postgresql.Insert | sqlite.Insert:
    """The dialect's ``INSERT`` construct, which has ``on_conflict_do_nothing/do_update``;
    ``conn`` may be the dialect's name (for statements built once per dialect).

    SQLite (3.24+) and PostgreSQL spell ``INSERT … ON CONFLICT`` the same way; SQLAlchemy
    exposes it per dialect, so the one statement is built with the right class.
    """
    name = conn if isinstance(conn, str) else conn.dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise ValueError(f"unsupported database {name!r}")


def bind_processor(
    conn: Connection | Dialect, column: sa.Column[Any]
) -> Callable[[Any], Any] | None:
    """What SQLAlchemy would do to a value of ``column`` before handing it to the driver
    (datetimes to text on SQLite, JSON serialization), for :func:`driver_executemany` rows."""
    dialect = conn.dialect if isinstance(conn, Connection) else conn
    processor: Callable[[Any], Any] | None = column.type.dialect_impl(dialect).bind_processor(
        dialect
    )
    return processor


def json_text_to_driver(conn: Connection) -> Callable[[str], Any] | None:
    """How JSON already serialized (an ``Event.raw_json``) goes to the driver for a ``JSON``
    column: None when as it is (SQLite stores JSON as text), else a wrapper (psycopg: the text
    marked as ``jsonb``). Either way nothing is parsed or serialized again in Python."""
    if conn.dialect.name == "postgresql":
        from psycopg.types.json import Jsonb

        return lambda text: Jsonb(text, dumps=_same)
    return None


def time_to_driver(conn: Connection | Dialect) -> Callable[[datetime], Any]:
    """A UTC datetime as the driver takes it for a ``DateTime`` column.

    On SQLite that is SQLAlchemy's text storage format (``2025-03-10 12:30:15.123456``), made
    here by the C ``isoformat`` at a tenth of the cost of the generic processor; a test checks
    the two agree.
    """
    dialect = conn.dialect if isinstance(conn, Connection) else conn
    if dialect.name == "sqlite":
        return sqlite_time
    return _same


def from_store_time(moment: datetime) -> datetime:
    """A datetime read back from a ``DateTime(timezone=True)`` column, as aware UTC: SQLite
    hands them back naive (they were stored as UTC), PostgreSQL in the session's zone."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _same(value: Any) -> Any:
    return value


def driver_executemany(
    conn: Connection,
    stmt: sa.ClauseElement,
    columns: Sequence[str],
    rows: list[tuple[Any, ...]],
    *,
    literals: dict[str, str] | None = None,
) -> int:
    """Run ``stmt`` once per row through the driver's own ``executemany``; returns the number of
    rows affected. ``columns`` names the values of each row: the inserted columns of an INSERT,
    the ``bindparam`` names of other statements.

    SQLAlchemy prepares every parameter set of an executemany in Python, which for small rows
    costs more than SQLite's insert itself. Here the statement is compiled once, for exactly
    ``columns``, and the rows go to the cursor as they are: values must already be what the
    driver takes (see :func:`bind_processor`).
    """
    if not rows:
        return 0
    sql, order = _driver_sql(conn, stmt, columns, literals)
    params: list[tuple[Any, ...]] | list[dict[str, Any]]
    if order is None:  # named parameters (psycopg)
        params = [dict(zip(columns, row, strict=True)) for row in rows]
    elif list(order) == list(columns):  # positional (sqlite), already in order
        params = rows
    else:
        index = [list(columns).index(name) for name in order]
        params = [tuple(row[i] for i in index) for row in rows]
    return conn.exec_driver_sql(sql, params).rowcount


#: Bound values per statement of :func:`driver_insert_rows`: SQLite's limit before 3.32
#: (999), so any build takes them.
SQLITE_VALUES_PER_INSERT = 999


def driver_insert_rows(
    conn: Connection,
    stmt: sa.Insert,
    columns: Sequence[str],
    rows: list[tuple[Any, ...]],
    *,
    literals: dict[str, str] | None = None,
) -> int:
    """:func:`driver_executemany` of an INSERT, which on SQLite inside the caller's
    transaction inserts many rows a statement (``VALUES (…), (…), …``), in order; returns
    the number of rows inserted.

    sqlite3's ``executemany`` steps, resets and releases the GIL once per row: storing a
    batch of SendGrid events took 46,176 instructions an event that way, 42,712 with 62
    rows a statement (``bench/parse_instructions.py --phases insert``). The statements go
    to the driver's cursor directly (through SQLAlchemy each ``execute`` costs more than the
    rows it saves), so only inside a transaction SQLAlchemy began; errors are raised as
    SQLAlchemy's, as from ``executemany``.
    """
    if conn.dialect.name != "sqlite" or len(rows) < 2 or not conn.in_transaction():
        return driver_executemany(conn, stmt, columns, rows, literals=literals)
    sql, order = _driver_sql(conn, stmt, columns, literals)
    head, values, tail = _values_clause(sql)
    if order != tuple(columns) or not values:
        return driver_executemany(conn, stmt, columns, rows, literals=literals)
    width = len(columns)
    per = max(1, SQLITE_VALUES_PER_INSERT // width)
    flat = list(chain.from_iterable(rows))
    full = f"{head}{', '.join([values] * per)}{tail}"
    driver = conn.connection.driver_connection
    assert driver is not None  # a checked-out connection
    cursor = driver.cursor()
    inserted, whole, statement = 0, len(rows) - len(rows) % per, full
    try:
        for start in range(0, whole * width, per * width):
            cursor.execute(full, flat[start : start + per * width])
            inserted += cursor.rowcount
        if whole < len(rows):
            statement = f"{head}{', '.join([values] * (len(rows) - whole))}{tail}"
            cursor.execute(statement, flat[whole * width :])
            inserted += cursor.rowcount
    except sqlite3.Error as exc:
        raise sa.exc.DBAPIError.instance(statement, None, exc, sqlite3.Error) from exc
    finally:
        cursor.close()
    return inserted


def _driver_sql(
    conn: Connection,
    stmt: sa.ClauseElement,
    columns: Sequence[str],
    literals: dict[str, str] | None,
) -> tuple[str, tuple[str, ...] | None]:
    """``stmt`` compiled for ``columns`` (cached), with ``literals`` put in, and the order of
    its positional parameters (None for named ones)."""
    sql, order = _compiled(stmt, conn.dialect, tuple(columns))
    for token, value in (literals or {}).items():  # values the caller made safe (integers)
        sql = sql.replace(token, value)
    return sql, order


def _values_clause(sql: str) -> tuple[str, str, str]:
    """``INSERT … VALUES`` , ``(?, …)``, `` ON CONFLICT …`` of a compiled single-row INSERT
    (``(?, …)`` empty when it is not one)."""
    head, found, rest = sql.partition(" VALUES ")
    if not found or not rest.startswith("(") or "(" in rest[1:].partition(")")[0]:
        return sql, "", ""
    values, _, tail = rest.partition(")")
    return f"{head} VALUES ", f"{values})", tail


@lru_cache(maxsize=64)  # statements built once (an ingest's) compile once, not per batch
def _compiled(
    stmt: sa.ClauseElement, dialect: Dialect, columns: tuple[str, ...]
) -> tuple[str, tuple[str, ...] | None]:
    compiled = stmt.compile(dialect=dialect, column_keys=list(columns), for_executemany=True)
    assert isinstance(compiled, SQLCompiler)
    order = compiled.positiontup
    return compiled.string, None if order is None else tuple(order)
