"""Placement runs in the store: record a run, read history and the latest run.

Use::

    with begin_write(engine) as conn:
        run = record_run(conn, run)            # returns the run with its id
    with engine.connect() as conn:
        latest = latest_placement(conn)        # PlacementRun | None
        week = placement_history(conn, since=now - timedelta(days=7))   # newest first
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from deliverwatch.placement.model import PLACEMENTS, PlacementRun, Rates, SeedResult
from deliverwatch.store.engine import from_store_time
from deliverwatch.store.schema import placement_results, placement_runs


def record_run(conn: Connection, run: PlacementRun) -> PlacementRun:
    """Store ``run`` and its seed results (the caller's transaction); the run with its id."""
    counts = Rates.of(run.results).counts
    run_id = conn.execute(
        placement_runs.insert()
        .values(
            token=run.token,
            started_at=run.started_at,
            finished_at=run.finished_at,
            sender=run.sender,
            subject=run.subject,
            timed_out=run.timed_out,
            seeds=len(run.results),
            **{placement: counts[placement] for placement in PLACEMENTS},
        )
        .returning(placement_runs.c.id)
    ).scalar_one()
    if run.results:
        conn.execute(
            placement_results.insert(),
            [_result_row(run_id, seq, result) for seq, result in enumerate(run.results)],
        )
    return replace(run, id=run_id)


def _result_row(run_id: int, seq: int, result: SeedResult) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "seq": seq,
        "address": result.address,
        "provider": result.provider,
        "placement": result.placement,
        "folder": result.folder,
        "tab": result.tab,
        "seconds": result.seconds,
        "smtp_code": result.smtp_code,
        "smtp_message": result.smtp_message,
        "error": result.error,
        "spam_score": result.spam_score,
        "details": {
            "authentication": result.authentication,
            "authentication_results": result.authentication_results,
            "spam_headers": result.spam_headers,
        },
    }


def placement_history(
    conn: Connection, *, since: datetime | None = None, limit: int = 50
) -> list[PlacementRun]:
    """Runs newest first (started at or after ``since``), with their seed results."""
    query = sa.select(placement_runs).order_by(
        placement_runs.c.started_at.desc(), placement_runs.c.id.desc()
    )
    if since is not None:
        query = query.where(placement_runs.c.started_at >= since)
    runs = conn.execute(query.limit(limit)).mappings().all()
    if not runs:
        return []
    ids = [row["id"] for row in runs]
    results: dict[int, list[SeedResult]] = {run_id: [] for run_id in ids}
    rows = conn.execute(
        sa.select(placement_results)
        .where(placement_results.c.run_id.in_(ids))
        .order_by(placement_results.c.run_id, placement_results.c.seq)
    ).mappings()
    for row in rows:
        results[row["run_id"]].append(_seed_result(row))
    return [_run(row, results[row["id"]]) for row in runs]


def latest_placement(conn: Connection) -> PlacementRun | None:
    """The most recent run, or None before the first."""
    history = placement_history(conn, limit=1)
    return history[0] if history else None


def _seed_result(row: Any) -> SeedResult:
    details = row["details"] or {}
    return SeedResult(
        address=row["address"],
        provider=row["provider"],
        placement=row["placement"],
        folder=row["folder"],
        tab=row["tab"],
        seconds=row["seconds"],
        smtp_code=row["smtp_code"],
        smtp_message=row["smtp_message"],
        error=row["error"],
        authentication=dict(details.get("authentication") or {}),
        authentication_results=list(details.get("authentication_results") or []),
        spam_headers=dict(details.get("spam_headers") or {}),
        spam_score=row["spam_score"],
    )


def _run(row: Any, results: list[SeedResult]) -> PlacementRun:
    return PlacementRun(
        id=row["id"],
        token=row["token"],
        started_at=from_store_time(row["started_at"]),
        finished_at=from_store_time(row["finished_at"]),
        sender=row["sender"],
        subject=row["subject"],
        timed_out=row["timed_out"],
        results=results,
    )
