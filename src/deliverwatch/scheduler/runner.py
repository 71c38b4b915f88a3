"""The scheduler loop (``serve``) and a single pass over due jobs (``run-once``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from deliverwatch.clock import Clock
from deliverwatch.config import Config
from deliverwatch.scheduler import runs
from deliverwatch.scheduler.config import JobSettings
from deliverwatch.scheduler.jobs import JOBS, Job, JobContext
from deliverwatch.scheduler.leader import Leadership, leadership_for
from deliverwatch.scheduler.ticks import next_tick, offset_seconds, tick_of
from deliverwatch.service import metrics

log = logging.getLogger(__name__)


def instance_name() -> str:
    """Host, process and a random part: unique even for two processes with one pid."""
    return f"{socket.gethostname()[:32]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass(slots=True)
class Outcome:
    job: str
    status: str  # ok | failed | skipped | taken
    seconds: float = 0.0
    error: str | None = None
    detail: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "job": self.job,
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "error": self.error,
            "detail": self.detail,
        }


@dataclass(slots=True)
class _Planned:
    job: Job
    settings: JobSettings
    offset: int
    last_tick: int | None = None
    task: asyncio.Task[Outcome] | None = field(default=None, repr=False)


class Scheduler:
    def __init__(
        self,
        config: Config,
        engine: Engine,
        clock: Clock,
        *,
        instance: str | None = None,
        jobs: dict[str, Job] | None = None,
        leadership: Leadership | None = None,
        on_run: Callable[[], None] | None = None,
    ) -> None:
        self.config = config
        self.engine = engine
        self.clock = clock
        self.instance = instance or instance_name()
        self.leading = False
        self._on_run = on_run
        settings = config.scheduler
        self._leadership = leadership or leadership_for(engine, self.instance, settings.leader_poll)
        self._planned: list[_Planned] = []
        for name, job in (jobs or JOBS).items():
            job_settings: JobSettings = getattr(settings.jobs, name)
            if job_settings.enabled:
                offset = offset_seconds(name, job_settings.jitter)
                self._planned.append(_Planned(job, job_settings, offset))

    @property
    def context(self) -> JobContext:
        return JobContext(self.config, self.engine, self.clock, self.instance)

    async def run_once(self) -> list[Outcome]:
        """Run every enabled job whose current tick has not run yet, one after another."""
        outcomes = []
        for planned in self._planned:
            tick = tick_of(self.clock.now(), planned.settings.interval, planned.offset)
            outcomes.append(await self._run(planned, tick))
        return outcomes

    async def run(self, stop: asyncio.Event, *, grace: float = 20.0) -> None:
        """Lead or follow until ``stop`` is set; running jobs get ``grace`` seconds to end."""
        poll = self.config.scheduler.leader_poll.total_seconds()
        try:
            while not stop.is_set():
                now = self.clock.now()
                try:
                    leading = await asyncio.to_thread(self._leadership.try_lead, now)
                except Exception as exc:  # the store is down: follow until it is back
                    log.warning("scheduler: cannot reach the store for leadership: %s", exc)
                    leading = False
                if leading != self.leading:
                    log.info(
                        "scheduler: %s leader (%s)",
                        "became" if leading else "no longer",
                        self.instance,
                    )
                self.leading = leading
                metrics.SCHEDULER_LEADER.set(1 if leading else 0)
                wake = now + timedelta(seconds=poll)
                if leading:
                    for planned in self._planned:
                        tick = tick_of(now, planned.settings.interval, planned.offset)
                        running = planned.task is not None and not planned.task.done()
                        if tick != planned.last_tick and not running:
                            planned.last_tick = tick
                            planned.task = asyncio.create_task(self._run(planned, tick))
                        due = next_tick(now, planned.settings.interval, planned.offset)
                        wake = min(wake, due)
                delay = max(0.05, (wake - self.clock.now()).total_seconds())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=delay)
        finally:
            tasks = [p.task for p in self._planned if p.task is not None and not p.task.done()]
            if tasks:
                log.info("scheduler: waiting for %d running job(s)", len(tasks))
                _, pending = await asyncio.wait(tasks, timeout=grace)
                for task in pending:
                    task.cancel()
                await asyncio.gather(*pending, return_exceptions=True)
            await asyncio.to_thread(self._release)

    def _release(self) -> None:
        try:
            self._leadership.release()
        except Exception as exc:
            log.warning("scheduler: releasing leadership failed: %s", exc)

    async def _run(self, planned: _Planned, tick: int) -> Outcome:
        name = planned.job.name
        reason = planned.job.skip_reason(self.config)
        if reason is not None:
            return Outcome(name, "skipped", error=reason)
        started = self.clock.now()
        try:
            run_id = await asyncio.to_thread(
                runs.claim, self.engine, name, tick, self.instance, started
            )
        except Exception as exc:
            log.error("scheduler: job %s not started, store error: %s", name, exc)
            return Outcome(name, "failed", error=f"store: {exc}")
        if run_id is None:
            return Outcome(name, "taken")
        began = time.perf_counter()
        status, error, detail = "ok", None, None
        try:
            timeout = planned.settings.timeout.total_seconds()
            detail = await asyncio.wait_for(planned.job.run(self.context), timeout=timeout)
        except TimeoutError:
            status, error = "failed", f"timed out after {planned.settings.timeout}"
        except asyncio.CancelledError:
            status, error = "failed", "cancelled at shutdown"
            await asyncio.to_thread(self._finish, run_id, status, error, None)
            raise
        except Exception as exc:  # one job's failure never stops the others
            status, error = "failed", f"{type(exc).__name__}: {exc}"
            log.exception("scheduler: job %s failed", name)
        seconds = time.perf_counter() - began
        metrics.JOB_DURATION.labels(job=name).observe(seconds)
        metrics.JOB_RUNS.labels(job=name, status=status).inc()
        if status == "ok":
            metrics.JOB_LAST_SUCCESS.labels(job=name).set(self.clock.now().timestamp())
        await asyncio.to_thread(self._finish, run_id, status, error, detail)
        if self._on_run is not None:
            self._on_run()  # what the job stored shows on the next read
        if status == "ok":
            log.info("scheduler: job %s done in %.2fs %s", name, seconds, detail or "")
        return Outcome(name, status, seconds, error, detail)

    def _finish(
        self, run_id: int, status: str, error: str | None, detail: dict[str, Any] | None
    ) -> None:
        try:
            runs.finish(
                self.engine, run_id, status=status, now=self.clock.now(), error=error, detail=detail
            )
        except Exception as exc:
            log.error("scheduler: could not record the end of run %d: %s", run_id, exc)


def due_jobs(config: Config, now: datetime) -> dict[str, int]:
    """Each enabled job's current tick (Unix seconds), for listings."""
    out = {}
    for name in JOBS:
        settings: JobSettings = getattr(config.scheduler.jobs, name)
        if settings.enabled:
            out[name] = tick_of(now, settings.interval, offset_seconds(name, settings.jitter))
    return out
