"""Runs stored and read back (SQLite and PostgreSQL), and the scheduled job against the bed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from deliverwatch.clock import FakeClock
from deliverwatch.config import Config
from deliverwatch.placement.jobs import run_scheduled
from deliverwatch.placement.model import PlacementRun, SeedResult
from deliverwatch.placement.store import latest_placement, placement_history, record_run
from deliverwatch.store import begin_write
from tests.placement.conftest import placement_settings, seed_entry
from tests.servers.dovecot import DovecotServer
from tests.servers.seedbed import SeedBed

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _run(token: str, at: datetime, placements: list[str]) -> PlacementRun:
    results = [
        SeedResult(
            address=f"s{i}@x.test",
            provider="gmail" if i % 2 == 0 else "yahoo",
            placement=p,  # type: ignore[arg-type]
            folder="INBOX" if p == "inbox" else None,
            seconds=1.5 if p == "inbox" else None,
            smtp_code=550 if p == "rejected" else 250,
            smtp_message="5.1.1 gone" if p == "rejected" else None,
            authentication={"dkim": "pass"},
            authentication_results=["mx; dkim=pass"],
            spam_headers={"X-Spam-Flag": "NO"},
            spam_score=0.5,
        )
        for i, p in enumerate(placements)
    ]
    return PlacementRun(
        token=token,
        started_at=at,
        finished_at=at + timedelta(seconds=12),
        results=results,
        sender="n@brand.test",
        subject="S",
    )


def test_record_and_read_back(engine: Engine) -> None:
    with engine.connect() as conn:
        assert latest_placement(conn) is None and placement_history(conn) == []
    first = _run("dwpt-1", T0, ["inbox", "spam", "missing", "rejected"])
    second = _run("dwpt-2", T0 + timedelta(hours=6), ["inbox", "inbox", "error"])
    with begin_write(engine) as conn:
        stored = record_run(conn, first)
        record_run(conn, second)
    assert stored.id is not None
    with engine.connect() as conn:
        latest = latest_placement(conn)
        history = placement_history(conn)
        recent = placement_history(conn, since=T0 + timedelta(hours=1))
        one = placement_history(conn, limit=1)
    assert latest is not None and latest.token == "dwpt-2"
    assert latest.started_at == second.started_at and latest.results == second.results
    assert [r.token for r in history] == ["dwpt-2", "dwpt-1"]
    assert history[1].results == first.results
    assert history[1].to_dict()["overall"] == first.to_dict()["overall"]
    assert history[1].to_dict()["providers"] == first.to_dict()["providers"]
    assert [r.token for r in recent] == ["dwpt-2"] and [r.token for r in one] == ["dwpt-2"]
    assert latest.inbox_rate == 1.0


async def test_scheduled_run_when_due_and_stored(
    engine: Engine,
    dovecot: DovecotServer,
    bed: Callable[..., SeedBed],
    seeds: Callable[..., list[str]],
) -> None:
    (address,) = seeds(1)
    placement = placement_settings(
        dovecot, bed(), [seed_entry(dovecot, address, provider="local")], interval="1h"
    )
    config = Config(placement=placement)
    clock = FakeClock(T0)
    run = await run_scheduled(config, engine, clock)
    assert run is not None and run.id is not None
    assert [r.placement for r in run.results] == ["inbox"]
    clock.advance(timedelta(minutes=59))
    assert await run_scheduled(config, engine, clock) is None  # not due yet
    with engine.connect() as conn:
        stored = latest_placement(conn)
    assert stored is not None and stored.token == run.token
    assert stored.results[0].placement == "inbox" and stored.results[0].seconds is not None
    off = Config(placement=placement.model_copy(update={"interval": timedelta(0)}))
    clock.advance(timedelta(hours=5))
    assert await run_scheduled(off, engine, clock) is None  # schedule off
