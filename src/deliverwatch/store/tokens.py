"""One-time webhook tokens (Mailgun tokens, Svix ids, signatures) already used.

Stored in the same transaction as the events they came with, so a request that failed to
store is not mistaken for a replay when the ESP retries it; shared through the store, so
several service instances refuse the same replay.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from deliverwatch.store.engine import time_to_driver
from deliverwatch.store.schema import webhook_tokens

_CHUNK = 500  # tokens per IN (...) lookup
_RECORD_SQL = (
    "INSERT INTO webhook_tokens (token, expires_at) VALUES ({marks}) ON CONFLICT (token) DO NOTHING"
)
_SEEN_SQL = "SELECT token FROM webhook_tokens WHERE token IN ({marks})"


def record_tokens(conn: Connection, tokens: Sequence[tuple[str, datetime]]) -> None:
    """Record ``tokens`` (already recorded ones are left as they are).

    The writer runs this and :func:`tokens_seen` once per group commit, for a few dozen
    tokens: plain SQL through the driver, because building and processing the statement in
    SQLAlchemy costs several times what the database does.
    """
    if not tokens:
        return
    to_driver = time_to_driver(conn)
    sql = _RECORD_SQL.format(marks=_marks(conn, 2))
    conn.exec_driver_sql(sql, [(t, to_driver(e.astimezone(UTC))) for t, e in tokens])


def tokens_seen(bind: Engine | Connection, tokens: Iterable[str]) -> set[str]:
    """Which of ``tokens`` were recorded; on a connection, as its transaction sees them."""
    wanted = list(dict.fromkeys(tokens))
    if not wanted:
        return set()
    if isinstance(bind, Engine):
        with bind.connect() as conn:
            return tokens_seen(conn, wanted)
    seen: set[str] = set()
    for start in range(0, len(wanted), _CHUNK):
        chunk = tuple(wanted[start : start + _CHUNK])
        sql = _SEEN_SQL.format(marks=_marks(bind, len(chunk)))
        seen.update(token for (token,) in bind.exec_driver_sql(sql, chunk))
    return seen


def _marks(conn: Connection, count: int) -> str:
    """``count`` positional parameter markers in the driver's style (the only text ever put
    into these statements; the values go to the driver as parameters)."""
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    return ", ".join([mark] * count)


def forget_expired_tokens(conn: Connection, now: datetime) -> int:
    """Tokens past their expiry can be dropped: a replay that old fails the staleness check."""
    result = conn.execute(sa.delete(webhook_tokens).where(webhook_tokens.c.expires_at < now))
    return result.rowcount or 0
