"""The scheduled jobs: each a small adapter from the scheduler to the module doing the work.

A job returns a small JSON-safe dict of what it did (stored with the run, shown by
``run-once``), or raises; ``skip_reason`` says why a job has nothing to do with this config
(no domains, no mailbox configured) so it is not recorded as a run.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Engine

from deliverwatch.clock import Clock
from deliverwatch.config import Config


@dataclass(frozen=True, slots=True)
class JobContext:
    config: Config
    engine: Engine
    clock: Clock
    instance: str


Detail = dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class Job:
    name: str
    run: Callable[[JobContext], Awaitable[Detail]]
    applies: Callable[[Config], str | None] = lambda _config: None

    def skip_reason(self, config: Config) -> str | None:
        return self.applies(config)


def _needs_domains(config: Config) -> str | None:
    return None if config.domains else "no domains configured"


async def _audit(ctx: JobContext) -> Detail:
    from deliverwatch.history.jobs import audit_domains

    stored = await audit_domains(ctx.config, ctx.engine, ctx.clock)
    changed = sum(1 for audit in stored if audit.changes)
    return {"domains": len(stored), "changed": changed}


async def _blocklists(ctx: JobContext) -> Detail:
    from deliverwatch.history.jobs import check_blocklists

    return await check_blocklists(ctx.config, ctx.engine, ctx.clock)


async def _alerts(ctx: JobContext) -> Detail:
    from deliverwatch.alerts.engine import evaluate

    result = await _maybe_async(evaluate(ctx.engine, ctx.config, ctx.clock))
    return _detail(result)


async def _notify(ctx: JobContext) -> Detail:
    from deliverwatch.notify.outbox import deliver_due

    report = await _maybe_async(deliver_due(ctx.engine, ctx.config, ctx.clock))
    return _detail(report)


def _needs_mailbox(config: Config) -> str | None:
    dmarc = getattr(config, "dmarc", None)
    return None if getattr(dmarc, "mailbox", None) else "no DMARC mailbox configured"


async def _dmarc_mailbox(ctx: JobContext) -> Detail:
    from deliverwatch.dmarc.mailbox import poll

    return _detail(await poll(ctx.config, ctx.engine, ctx.clock))


def _needs_seeds(config: Config) -> str | None:
    placement = getattr(config, "placement", None)
    return None if getattr(placement, "seeds", None) else "no placement seeds configured"


async def _placement(ctx: JobContext) -> Detail:
    from deliverwatch.placement.jobs import run_scheduled

    run = await run_scheduled(ctx.config, ctx.engine, ctx.clock)
    return _detail(run) if run is not None else {"ran": False}


async def _compaction(ctx: JobContext) -> Detail:
    import asyncio

    return await asyncio.to_thread(compact_store, ctx)


def compact_store(ctx: JobContext) -> dict[str, Any]:
    """Retention over everything the store keeps."""
    from deliverwatch.history import prune_audits
    from deliverwatch.scheduler.runs import prune_runs
    from deliverwatch.store import begin_write, compact
    from deliverwatch.store.tokens import forget_expired_tokens

    now = ctx.clock.now()
    with begin_write(ctx.engine) as conn:
        result = compact(conn, now=now, **ctx.config.retention.model_dump())
        tokens = forget_expired_tokens(conn, now)
        runs = prune_runs(conn, now - ctx.config.scheduler.keep_runs)
        pruned = prune_audits(conn, ctx.config.history.keep_days, now=now)
    return {
        **_detail(result),
        "webhook_tokens": tokens,
        "job_runs": runs,
        "audits": pruned.audits,
        "scores": pruned.scores,
    }


async def _digest_daily(ctx: JobContext) -> Detail:
    from deliverwatch.service.digest import send_digest

    return await send_digest(ctx.config, ctx.engine, ctx.clock, period=timedelta(days=1))


async def _digest_weekly(ctx: JobContext) -> Detail:
    from deliverwatch.service.digest import send_digest

    return await send_digest(ctx.config, ctx.engine, ctx.clock, period=timedelta(days=7))


def _needs_digest(config: Config) -> str | None:
    notifications = getattr(config, "notifications", None)
    channels = getattr(notifications, "digest_channels", None)
    return None if channels else "no digest channels configured"


async def _maybe_async(value: Any) -> Any:
    import inspect

    return await value if inspect.isawaitable(value) else value


def _detail(result: Any) -> dict[str, Any]:
    if result is None:
        return {}
    if isinstance(result, dict):
        return result
    to_dict = getattr(result, "to_dict", None)
    if callable(to_dict):
        value = to_dict()
        return value if isinstance(value, dict) else {"result": value}
    return {"result": str(result)}


#: In the order ``run-once`` runs them: fresh data first, then what reads it.
JOBS: dict[str, Job] = {
    job.name: job
    for job in (
        Job("dmarc_mailbox", _dmarc_mailbox, _needs_mailbox),
        Job("audit", _audit, _needs_domains),
        Job("blocklists", _blocklists, _needs_domains),
        Job("placement", _placement, _needs_seeds),
        Job("alerts", _alerts),
        Job("notify", _notify),
        Job("digest_daily", _digest_daily, _needs_digest),
        Job("digest_weekly", _digest_weekly, _needs_digest),
        Job("compaction", _compaction),
    )
}
