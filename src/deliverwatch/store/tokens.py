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

from deliverwatch.store.engine import upsert_insert
from deliverwatch.store.schema import webhook_tokens


def record_tokens(conn: Connection, tokens: Sequence[tuple[str, datetime]]) -> None:
    statement = upsert_insert(conn, webhook_tokens).on_conflict_do_nothing(index_elements=["token"])
    conn.execute(statement, [{"token": t, "expires_at": e.astimezone(UTC)} for t, e in tokens])


def tokens_seen(engine: Engine, tokens: Iterable[str]) -> set[str]:
    wanted = list(tokens)
    if not wanted:
        return set()
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(webhook_tokens.c.token).where(webhook_tokens.c.token.in_(wanted))
        )
        return {row.token for row in rows}


def forget_expired_tokens(conn: Connection, now: datetime) -> int:
    """Tokens past their expiry can be dropped: a replay that old fails the staleness check."""
    result = conn.execute(sa.delete(webhook_tokens).where(webhook_tokens.c.expires_at < now))
    return result.rowcount or 0
