"""The scheduler: once per tick across instances, failures isolated, one leader."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from deliverwatch.clock import FakeClock, SystemClock
from deliverwatch.config import Config
from deliverwatch.scheduler.jobs import JOBS, Job, JobContext
from deliverwatch.scheduler.leader import leadership_for
from deliverwatch.scheduler.runner import Scheduler
from deliverwatch.scheduler.runs import recent_runs
from deliverwatch.scheduler.ticks import next_tick, offset_seconds, tick_of
from deliverwatch.store import create_engine

START = datetime(2026, 11, 28, 12, 0, 30, tzinfo=UTC)


def config(**jobs: dict[str, Any]) -> Config:
    return Config.model_validate({"scheduler": {"leader_poll": "1s", "jobs": jobs}})


def recorder(calls: list[str], name: str, *, fail: bool = False) -> Job:
    async def run(ctx: JobContext) -> dict[str, Any]:
        calls.append(name)
        if fail:
            raise RuntimeError(f"{name} broke")
        return {"at": ctx.clock.now().isoformat()}

    return Job(name, run)


# -- ticks -------------------------------------------------------------------------------------


def test_ticks_are_slots_of_the_interval_shifted_by_a_stable_offset() -> None:
    hour = timedelta(hours=1)
    offset = offset_seconds("audit", timedelta(minutes=5))
    assert offset == offset_seconds("audit", timedelta(minutes=5))
    assert 0 <= offset < 300
    assert offset_seconds("alerts", timedelta(0)) == 0
    tick = tick_of(START, hour, offset)
    assert tick <= START.timestamp() < tick + 3600
    assert (tick - offset) % 3600 == 0
    assert next_tick(START, hour, offset).timestamp() == tick + 3600
    assert tick_of(START + timedelta(hours=1), hour, offset) == tick + 3600


# -- run-once ----------------------------------------------------------------------------------


async def test_run_once_runs_each_job_once_per_tick(engine: Engine) -> None:
    clock = FakeClock(START)
    calls: list[str] = []
    jobs = {"alerts": recorder(calls, "alerts"), "compaction": recorder(calls, "compaction")}
    first = Scheduler(config(), engine, clock, instance="a", jobs=jobs)
    outcomes = await first.run_once()
    assert [(o.job, o.status) for o in outcomes] == [("alerts", "ok"), ("compaction", "ok")]
    # Another instance, same tick: nothing runs twice.
    second = Scheduler(config(), engine, clock, instance="b", jobs=jobs)
    assert [o.status for o in await second.run_once()] == ["taken", "taken"]
    assert calls == ["alerts", "compaction"]
    clock.advance(timedelta(minutes=1))  # alerts' next tick; compaction is hourly
    assert [o.status for o in await second.run_once()] == ["ok", "taken"]
    assert calls == ["alerts", "compaction", "alerts"]
    with engine.connect() as conn:
        runs = recent_runs(conn)
    assert sorted((r.job, r.instance, r.status) for r in runs) == [
        ("alerts", "a", "ok"),
        ("alerts", "b", "ok"),
        ("compaction", "a", "ok"),
    ]
    assert all(r.finished_at is not None for r in runs)


async def test_a_failing_job_is_recorded_and_does_not_stop_the_others(engine: Engine) -> None:
    calls: list[str] = []
    jobs = {"alerts": recorder(calls, "alerts", fail=True), "notify": recorder(calls, "notify")}
    outcomes = await Scheduler(config(), engine, FakeClock(START), jobs=jobs).run_once()
    assert [(o.job, o.status) for o in outcomes] == [("alerts", "failed"), ("notify", "ok")]
    assert outcomes[0].error == "RuntimeError: alerts broke"
    with engine.connect() as conn:
        (run,) = recent_runs(conn, job="alerts")
    assert run.status == "failed" and run.error == "RuntimeError: alerts broke"


async def test_a_job_over_its_timeout_is_cancelled_and_recorded(engine: Engine) -> None:
    async def stuck(_ctx: JobContext) -> dict[str, Any]:
        await asyncio.Event().wait()
        return {}

    jobs = {"alerts": Job("alerts", stuck)}
    settings = config(alerts={"interval": "1m", "timeout": "1s"})
    (outcome,) = await Scheduler(settings, engine, FakeClock(START), jobs=jobs).run_once()
    assert outcome.status == "failed" and "timed out" in (outcome.error or "")


async def test_jobs_without_anything_to_do_are_skipped_not_recorded(engine: Engine) -> None:
    jobs = {name: JOBS[name] for name in ("audit", "placement", "dmarc_mailbox")}
    outcomes = await Scheduler(config(), engine, FakeClock(START), jobs=jobs).run_once()
    assert {o.job: o.status for o in outcomes} == {
        "audit": "skipped",
        "placement": "skipped",
        "dmarc_mailbox": "skipped",
    }
    assert outcomes[0].error == "no domains configured"
    with engine.connect() as conn:
        assert recent_runs(conn) == []


async def test_disabled_jobs_do_not_run(engine: Engine) -> None:
    calls: list[str] = []
    jobs = {"alerts": recorder(calls, "alerts"), "notify": recorder(calls, "notify")}
    settings = config(notify={"interval": "15s", "enabled": False})
    outcomes = await Scheduler(settings, engine, FakeClock(START), jobs=jobs).run_once()
    assert [o.job for o in outcomes] == ["alerts"] and calls == ["alerts"]


async def test_compaction_job_applies_retention(engine: Engine) -> None:
    (outcome,) = await Scheduler(
        config(), engine, FakeClock(START), jobs={"compaction": JOBS["compaction"]}
    ).run_once()
    assert outcome.status == "ok", outcome.error
    assert outcome.detail is not None
    assert {"webhook_tokens", "job_runs"} <= set(outcome.detail)


# -- leadership --------------------------------------------------------------------------------


def test_one_leader_at_a_time_and_a_takeover_after_release(engine: Engine) -> None:
    poll = timedelta(seconds=5)
    a = leadership_for(engine, "a", poll)
    b = leadership_for(engine, "b", poll)
    if engine.dialect.name == "postgresql":
        # Advisory locks are per connection: b needs its own engine, as another process would.
        other = create_engine(engine.url)
        b = leadership_for(other, "b", poll)
    try:
        assert a.try_lead(START)
        assert a.try_lead(START + timedelta(seconds=1))  # renewing
        assert not b.try_lead(START + timedelta(seconds=1))
        a.release()
        assert b.try_lead(START + timedelta(seconds=2))
        assert not a.try_lead(START + timedelta(seconds=2))
        b.release()
    finally:
        if engine.dialect.name == "postgresql":
            other.dispose()


def test_sqlite_lease_is_taken_over_when_it_expires(tmp_path: Any) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'lease.db'}")
    from deliverwatch.store import upgrade_to_head

    upgrade_to_head(engine)
    poll = timedelta(seconds=5)
    a, b = leadership_for(engine, "a", poll), leadership_for(engine, "b", poll)
    assert a.try_lead(START)
    assert not b.try_lead(START + timedelta(seconds=14))
    # a died without releasing: after three polls its lease has run out.
    assert b.try_lead(START + timedelta(seconds=16))
    assert not a.try_lead(START + timedelta(seconds=16))
    engine.dispose()


async def wait_for(predicate: Callable[[], bool], within: float = 15.0) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)


async def test_two_schedulers_in_the_loop_run_each_tick_once(engine: Engine) -> None:
    calls: list[str] = []
    jobs = {"alerts": recorder(calls, "alerts")}
    settings = config(alerts={"interval": "1s"})
    engines = [engine, create_engine(engine.url)]
    schedulers = [
        Scheduler(settings, e, SystemClock(), instance=name, jobs=jobs)
        for e, name in zip(engines, ("a", "b"), strict=True)
    ]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(s.run(stop)) for s in schedulers]
    try:
        await wait_for(lambda: len(calls) >= 3)
        assert sum(s.leading for s in schedulers) == 1
    finally:
        stop.set()
        await asyncio.gather(*tasks)
        engines[1].dispose()
    with engine.connect() as conn:
        runs = recent_runs(conn, job="alerts", limit=1000)
    ticks = [r.tick for r in runs]
    assert len(ticks) == len(set(ticks)) == len(calls)
    assert len({r.instance for r in runs}) == 1


@pytest.mark.parametrize("name", sorted(JOBS))
def test_every_job_has_settings(name: str) -> None:
    assert getattr(Config().scheduler.jobs, name).interval > timedelta(0)
