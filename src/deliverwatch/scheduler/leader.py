"""Choosing the one instance that runs the scheduled jobs.

PostgreSQL: a session-level advisory lock held on a connection of its own. When the leader's
process dies, its connection closes and the server frees the lock; a follower's next try
(every ``leader_poll``) takes it. SQLite: a lease row renewed every poll and taken over once
it has expired (three polls), for the rare case of two processes on one database file.
"""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime, timedelta
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from deliverwatch.store.engine import begin_write, upsert_insert
from deliverwatch.store.schema import scheduler_lease

log = logging.getLogger(__name__)

#: pg advisory lock key: "dw-sched" in ASCII.
PG_LEADER_KEY = 0x64772D7363686564
LEASE_NAME = "scheduler"


class Leadership(Protocol):
    def try_lead(self, now: datetime) -> bool:
        """Take or keep leadership; whether this instance leads now."""
        ...

    def release(self) -> None: ...


def leadership_for(engine: Engine, instance: str, poll: timedelta) -> Leadership:
    if engine.dialect.name == "postgresql":
        return AdvisoryLockLeadership(engine)
    return LeaseLeadership(engine, instance, lease=poll * 3)


class AdvisoryLockLeadership:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._conn: Connection | None = None

    def try_lead(self, now: datetime) -> bool:
        if self._conn is not None:
            try:  # still holding it, if the connection still lives
                self._conn.execute(sa.text("SELECT 1"))
                return True
            except sa.exc.DBAPIError:
                log.warning("lost the scheduler lock's database connection")
                self._drop()
        conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            got = conn.execute(
                sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": PG_LEADER_KEY}
            ).scalar_one()
        except sa.exc.DBAPIError:
            conn.close()
            raise
        if got:
            self._conn = conn
            return True
        conn.close()
        return False

    def release(self) -> None:
        if self._conn is None:
            return
        with contextlib.suppress(sa.exc.DBAPIError):
            self._conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": PG_LEADER_KEY})
        self._drop()

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.invalidate()
                self._conn.close()
            except sa.exc.DBAPIError:
                pass
            self._conn = None


class LeaseLeadership:
    def __init__(self, engine: Engine, instance: str, lease: timedelta) -> None:
        self._engine = engine
        self._instance = instance
        self._lease = lease

    def try_lead(self, now: datetime) -> bool:
        epoch = int(now.timestamp())
        with begin_write(self._engine) as conn:
            row = conn.execute(
                sa.select(scheduler_lease.c.holder, scheduler_lease.c.expires_at).where(
                    scheduler_lease.c.name == LEASE_NAME
                )
            ).first()
            if row is not None and row.holder != self._instance and row.expires_at > epoch:
                return False
            expires = epoch + int(self._lease.total_seconds())
            stmt = upsert_insert(conn, scheduler_lease).values(
                name=LEASE_NAME, holder=self._instance, expires_at=expires
            )
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["name"],
                    set_={"holder": self._instance, "expires_at": expires},
                )
            )
        return True

    def release(self) -> None:
        with begin_write(self._engine) as conn:
            conn.execute(
                sa.delete(scheduler_lease).where(
                    scheduler_lease.c.name == LEASE_NAME,
                    scheduler_lease.c.holder == self._instance,
                )
            )
