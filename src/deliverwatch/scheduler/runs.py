"""Job run records: the claim on a tick, and what happened."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from deliverwatch.store.engine import begin_write, from_store_time, upsert_insert
from deliverwatch.store.schema import job_runs

MAX_ERROR_CHARS = 2000


@dataclass(frozen=True, slots=True)
class JobRun:
    id: int
    job: str
    tick: int
    instance: str
    started_at: datetime
    finished_at: datetime | None
    status: str  # running | ok | failed | skipped
    error: str | None
    detail: dict[str, Any] | None

    @property
    def duration(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "tick": datetime.fromtimestamp(self.tick, UTC).isoformat(),
            "instance": self.instance,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
            "duration_seconds": self.duration,
            "status": self.status,
            "error": self.error,
            "detail": self.detail,
        }


def claim(engine: Engine, job: str, tick: int, instance: str, now: datetime) -> int | None:
    """Record that ``instance`` starts ``job`` for ``tick``; None when the tick is taken."""
    with begin_write(engine) as conn:
        stmt = (
            upsert_insert(conn, job_runs)
            .values(job=job, tick=tick, instance=instance, started_at=now, status="running")
            .on_conflict_do_nothing(index_elements=["job", "tick"])
            .returning(job_runs.c.id)
        )
        row = conn.execute(stmt).first()
    return int(row[0]) if row is not None else None


def finish(
    engine: Engine,
    run_id: int,
    *,
    status: str,
    now: datetime,
    error: str | None = None,
    detail: dict[str, Any] | None = None,
) -> None:
    with begin_write(engine) as conn:
        conn.execute(
            sa.update(job_runs)
            .where(job_runs.c.id == run_id)
            .values(
                status=status,
                finished_at=now,
                error=error[:MAX_ERROR_CHARS] if error else None,
                detail=detail,
            )
        )


def is_claimed(conn: Connection, job: str, tick: int) -> bool:
    query = sa.select(job_runs.c.id).where(job_runs.c.job == job, job_runs.c.tick == tick)
    return conn.execute(query).first() is not None


def recent_runs(conn: Connection, *, job: str | None = None, limit: int = 50) -> list[JobRun]:
    query = sa.select(job_runs).order_by(job_runs.c.started_at.desc(), job_runs.c.id.desc())
    if job is not None:
        query = query.where(job_runs.c.job == job)
    return [_run(row) for row in conn.execute(query.limit(limit)).mappings()]


def last_runs(conn: Connection) -> dict[str, JobRun]:
    """The latest run of every job."""
    latest = (
        sa.select(job_runs.c.job, sa.func.max(job_runs.c.id).label("id"))
        .group_by(job_runs.c.job)
        .subquery()
    )
    query = sa.select(job_runs).join(latest, job_runs.c.id == latest.c.id)
    return {row["job"]: _run(row) for row in conn.execute(query).mappings()}


def prune_runs(conn: Connection, before: datetime) -> int:
    result = conn.execute(sa.delete(job_runs).where(job_runs.c.started_at < before))
    return result.rowcount or 0


def _run(row: Any) -> JobRun:
    return JobRun(
        id=int(row["id"]),
        job=row["job"],
        tick=int(row["tick"]),
        instance=row["instance"],
        started_at=from_store_time(row["started_at"]),
        finished_at=from_store_time(row["finished_at"]) if row["finished_at"] else None,
        status=row["status"],
        error=row["error"],
        detail=row["detail"],
    )
