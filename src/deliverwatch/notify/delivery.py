"""One delivery pass over the outbox: claim due rows, send them, record what happened.

Per channel the rows go out one at a time in creation order; channels run side by side. The
first temporary failure on a channel ends that channel's pass (the rest of its rows are handed
back untouched): a service that is down gets one request per backoff step, not one per queued
notification, and nothing overtakes the row that failed. When the channel is back, the next
pass sends the whole backlog in order.

Delivery is at least once: a sender that crashes after the service accepted a message but
before recording it sends that message again once its lease expires. Every payload carries
the notification id (the webhook's ``X-Deliverwatch-Delivery``, PagerDuty's ``dedup_key``,
Alertmanager's labels) so receivers can drop the rare repeat.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from deliverwatch.clock import Clock
from deliverwatch.config import Config
from deliverwatch.notify import outbox
from deliverwatch.notify.channels import (
    Channel,
    ChannelContext,
    ChannelError,
    PermanentError,
    TemporaryError,
    build_channel,
)
from deliverwatch.notify.channels.http import HttpPoster
from deliverwatch.notify.config import ChannelConfig, DeliverySettings
from deliverwatch.notify.model import Notification

log = logging.getLogger(__name__)
MIN_RETRY_SECONDS = 1.0
#: A sender stops starting sends this long before its lease ends (and a send still running
#: then is cut off), so a row is never sent by a sender whose lease another may have taken.
LEASE_MARGIN_SECONDS = 5.0
#: Delivered and failed rows older than ``keep_days`` are deleted at most this often per process.
PURGE_EVERY_SECONDS = 3600.0
_last_purge: dict[str, float] = {}  # database URL → time.monotonic() of the last purge
_JITTER = random.Random()  # noqa: S311 - spreads retries; nothing secret depends on it


@dataclass(frozen=True)
class DeliveryFailure:
    """A failed attempt: retried at ``retry_at``, or given up (``retry_at`` None)."""

    row_id: int
    notification_id: str
    channel: str
    error: str
    attempts: int
    retry_at: datetime | None

    @property
    def permanent(self) -> bool:
        return self.retry_at is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "row_id": self.row_id,
            "notification_id": self.notification_id,
            "channel": self.channel,
            "error": self.error,
            "attempts": self.attempts,
            "retry_at": None if self.retry_at is None else self.retry_at.isoformat(),
        }


@dataclass
class DeliveryReport:
    """What one pass did. ``failures`` lists every unsuccessful attempt."""

    claimed: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    released: int = 0
    lease_lost: int = 0
    purged: int = 0
    failures: list[DeliveryFailure] = field(default_factory=list)
    next_due: datetime | None = None

    @property
    def ok(self) -> bool:
        return not self.failures and not self.lease_lost

    def to_dict(self) -> dict[str, Any]:
        return {
            "claimed": self.claimed,
            "delivered": self.delivered,
            "retrying": self.retrying,
            "failed": self.failed,
            "released": self.released,
            "lease_lost": self.lease_lost,
            "purged": self.purged,
            "failures": [f.to_dict() for f in self.failures],
            "next_due": None if self.next_due is None else self.next_due.isoformat(),
        }


def backoff_seconds(
    attempt: int, settings: DeliverySettings, rng: random.Random | None = None
) -> float:
    """The wait after failed attempt number ``attempt`` (1-based): exponential from
    ``base_backoff_seconds``, capped at ``max_backoff_seconds``, with "equal jitter" (a random
    point in the upper half), so senders that failed together do not retry together."""
    ceiling = min(
        settings.max_backoff_seconds,
        settings.base_backoff_seconds * 2.0 ** min(max(attempt - 1, 0), 62),
    )
    jitter: float = (rng or _JITTER).uniform(0, ceiling / 2)
    return ceiling / 2 + jitter


def retry_delay(
    attempt: int,
    retry_after: float | None,
    settings: DeliverySettings,
    rng: random.Random | None = None,
) -> float:
    """The server's ``Retry-After`` when it gave one (up to ``max_retry_after_seconds``),
    else :func:`backoff_seconds`."""
    if retry_after is not None:
        return max(MIN_RETRY_SECONDS, min(retry_after, settings.max_retry_after_seconds))
    return max(MIN_RETRY_SECONDS, backoff_seconds(attempt, settings, rng))


def give_up_reason(
    attempts: int, created_at: datetime, now: datetime, settings: DeliverySettings
) -> str | None:
    """Why a row that just failed temporarily is not retried again, or None to retry."""
    if attempts >= settings.max_attempts:
        return f"gave up after {attempts} attempts"
    age = now - created_at
    if age >= timedelta(seconds=settings.max_age_seconds):
        return f"gave up after {attempts} attempts over {_duration(age)}"
    return None


async def deliver_due(
    engine: Engine,
    config: Config,
    clock: Clock,
    *,
    channels: Sequence[str] | None = None,
    owner: str | None = None,
    rng: random.Random | None = None,
) -> DeliveryReport:
    """Claim, send and record every due row (of ``channels``, else all); see the module doc.

    Rows of a channel that is no longer configured fail permanently ("not configured"), so
    they show up in ``notify outbox --state failed`` instead of waiting forever.
    """
    settings = config.notifications.delivery
    owner = owner or uuid.uuid4().hex
    report = DeliveryReport()
    lease_ends = time.monotonic() + settings.lease_seconds - LEASE_MARGIN_SECONDS
    claimed = await asyncio.to_thread(
        outbox.claim_due,
        engine,
        clock.now(),
        owner,
        lease_seconds=settings.lease_seconds,
        batch_size=settings.batch_size,
        channels=channels,
    )
    report.claimed = sum(len(rows) for rows in claimed.values())
    if claimed:
        async with HttpPoster() as poster:
            context = ChannelContext(poster, clock, settings.max_response_bytes)
            dashboard = config.notifications.dashboard_url
            pass_ = _Pass(engine, owner, clock, settings, report, rng, lease_ends, dashboard)
            async with asyncio.TaskGroup() as group:
                for name, rows in claimed.items():
                    channel_config = config.notifications.channel(name)
                    channel = build_channel(channel_config, context) if channel_config else None
                    group.create_task(pass_.run_channel(name, channel, rows))
    report.next_due = await asyncio.to_thread(_next_due, engine)
    key = engine.url.render_as_string(hide_password=True)
    if time.monotonic() - _last_purge.get(key, -PURGE_EVERY_SECONDS) >= PURGE_EVERY_SECONDS:
        _last_purge[key] = time.monotonic()
        before = clock.now() - timedelta(days=settings.keep_days)
        report.purged = await asyncio.to_thread(outbox.purge_finished, engine, before)
    return report


def _next_due(engine: Engine) -> datetime | None:
    with engine.connect() as conn:
        return outbox.next_due(conn)


@dataclass
class _Pass:
    engine: Engine
    owner: str
    clock: Clock
    settings: DeliverySettings
    report: DeliveryReport
    rng: random.Random | None
    lease_ends: float  # time.monotonic() by which this pass must be done with its rows
    dashboard_url: str | None = None  # the link of notifications that came without one

    async def run_channel(
        self, name: str, channel: Channel | None, rows: list[outbox.ClaimedRow]
    ) -> None:
        for index, row in enumerate(rows):
            remaining = self.lease_ends - time.monotonic()
            if remaining <= 0:  # the lease is nearly over: the rest go in the next pass
                await self._release(rows[index:])
                return
            try:
                notification = Notification.from_dict(row.payload)
                if notification.link is None and self.dashboard_url:
                    notification = replace(notification, link=self.dashboard_url)
            except (KeyError, TypeError, ValueError) as exc:  # written by an incompatible version
                await self._failed(row, f"unreadable notification: {exc.__class__.__name__}")
                continue
            try:
                if channel is None:
                    raise PermanentError(f"channel {name!r} is not configured")
                async with asyncio.timeout(remaining):
                    await channel.send(notification)
            except TimeoutError:
                await self._temporary(row, "not finished before the lease ran out", None)
            except PermanentError as exc:
                await self._failed(row, str(exc))
                continue
            except TemporaryError as exc:
                await self._temporary(row, str(exc), exc.retry_after)
            except ChannelError as exc:  # pragma: no cover - only the two subclasses exist
                await self._temporary(row, str(exc), None)
            except Exception as exc:  # a bug: retried within the limits, never lost silently
                log.exception("notify: sending %s to %s failed", row.notification_id, name)
                await self._temporary(row, f"internal error: {exc.__class__.__name__}", None)
            else:
                await self._delivered(row)
                continue
            # a temporary failure: the channel's remaining rows wait for the next pass
            await self._release(rows[index + 1 :])
            return

    async def _release(self, rows: list[outbox.ClaimedRow]) -> None:
        ids = [r.id for r in rows]
        self.report.released += await asyncio.to_thread(
            outbox.release, self.engine, ids, self.owner
        )

    async def _delivered(self, row: outbox.ClaimedRow) -> None:
        ok = await asyncio.to_thread(
            outbox.mark_delivered, self.engine, row.id, self.owner, self.clock.now()
        )
        if ok:
            self.report.delivered += 1
            log.info("notify: delivered %s to %s", row.notification_id, row.channel)
        else:
            self._lost(row)

    async def _temporary(
        self, row: outbox.ClaimedRow, error: str, retry_after: float | None
    ) -> None:
        now = self.clock.now()
        attempts = row.attempts + 1
        reason = give_up_reason(attempts, row.created_at, now, self.settings)
        if reason is not None:
            await self._failed(row, f"{reason}; last error: {error}")
            return
        delay = retry_delay(attempts, retry_after, self.settings, self.rng)
        retry_at = now + timedelta(seconds=delay)
        ok = await asyncio.to_thread(
            outbox.mark_retry, self.engine, row.id, self.owner, error, retry_at
        )
        if not ok:
            self._lost(row)
            return
        self.report.retrying += 1
        self.report.failures.append(
            DeliveryFailure(row.id, row.notification_id, row.channel, error, attempts, retry_at)
        )
        log.warning(
            "notify: %s to %s failed (attempt %d), retry in %.0fs: %s",
            row.notification_id,
            row.channel,
            attempts,
            delay,
            error,
        )

    async def _failed(self, row: outbox.ClaimedRow, error: str) -> None:
        ok = await asyncio.to_thread(outbox.mark_failed, self.engine, row.id, self.owner, error)
        if not ok:
            self._lost(row)
            return
        self.report.failed += 1
        self.report.failures.append(
            DeliveryFailure(row.id, row.notification_id, row.channel, error, row.attempts + 1, None)
        )
        log.error("notify: %s to %s failed for good: %s", row.notification_id, row.channel, error)

    def _lost(self, row: outbox.ClaimedRow) -> None:
        self.report.lease_lost += 1
        log.warning(
            "notify: lease on %s to %s expired before its outcome was recorded",
            row.notification_id,
            row.channel,
        )


async def send_now(
    channel_config: ChannelConfig,
    notification: Notification,
    clock: Clock,
    *,
    settings: DeliverySettings | None = None,
) -> None:
    """Send one notification straight to a channel, bypassing the outbox (``notify test``);
    raises :class:`~deliverwatch.notify.channels.ChannelError` when it was not accepted."""
    limit = (settings or DeliverySettings()).max_response_bytes
    async with HttpPoster() as poster:
        channel = build_channel(channel_config, ChannelContext(poster, clock, limit))
        await channel.send(notification)


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 2 * 86_400:
        return f"{seconds // 86_400} days"
    if seconds >= 2 * 3600:
        return f"{seconds // 3600} hours"
    return f"{max(seconds // 60, 1)} minutes"


__all__ = [
    "DeliveryFailure",
    "DeliveryReport",
    "backoff_seconds",
    "deliver_due",
    "give_up_reason",
    "retry_delay",
    "send_now",
]
