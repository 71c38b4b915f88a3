"""The event store: raw events, rollups, unique-engagement markers and the suppression list,
on SQLite or PostgreSQL through SQLAlchemy Core (docs/store.md).

Typical use::

    engine = open_store(config.database_url)
    with begin_write(engine) as conn:
        result = insert_events(conn, events)
    with engine.connect() as conn:
        rows = stats(conn, domain="example.com", since=start, until=end, by="mailbox-provider")
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from deliverwatch.store.engine import begin_write, create_engine
from deliverwatch.store.events import InsertResult, insert_events
from deliverwatch.store.migrations import upgrade_to_head
from deliverwatch.store.rollups import CompactResult, compact
from deliverwatch.store.stats import Rate, StatsRow, stats, wilson
from deliverwatch.store.suppressions import (
    Suppression,
    add_suppression,
    is_suppressed,
    list_suppressions,
    remove_suppressions,
    suppressions_for,
)

__all__ = [
    "CompactResult",
    "InsertResult",
    "Rate",
    "StatsRow",
    "Suppression",
    "add_suppression",
    "begin_write",
    "compact",
    "create_engine",
    "insert_events",
    "is_suppressed",
    "list_suppressions",
    "open_store",
    "remove_suppressions",
    "stats",
    "suppressions_for",
    "upgrade_to_head",
    "wilson",
]


def open_store(url: str) -> Engine:
    """An engine for ``url`` with the schema brought to the current revision."""
    engine = create_engine(url)
    upgrade_to_head(engine)
    return engine
