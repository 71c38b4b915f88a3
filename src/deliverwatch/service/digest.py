"""The daily and weekly digest: every domain's state in one notification.

Sent to ``notifications.digest_channels`` through the outbox like any notification, so a
channel that is down gets it when it is back. The fingerprint names the period, so two
instances (or a re-run of the same tick) never enqueue two digests for one period.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from deliverwatch.clock import Clock
from deliverwatch.config import Config

_ORDER = {"critical": 0, "warning": 1, "unknown": 2, "ok": 3}


async def send_digest(
    config: Config, engine: Engine, clock: Clock, *, period: timedelta
) -> dict[str, Any]:
    return await asyncio.to_thread(_send, config, engine, clock, period)


def _send(config: Config, engine: Engine, clock: Clock, period: timedelta) -> dict[str, Any]:
    from deliverwatch.notify.outbox import enqueue
    from deliverwatch.store import begin_write

    channels = list(config.notifications.digest_channels)
    now = clock.now()
    with engine.connect() as conn:
        notification = build_digest(conn, config, clock, period, now)
    with begin_write(engine) as conn:
        ids = enqueue(conn, notification, channels, now)
    return {"domains": len(notification.alerts), "channels": channels, "enqueued": len(ids)}


def build_digest(conn: Any, config: Config, clock: Clock, period: timedelta, now: datetime) -> Any:
    from deliverwatch.notify.model import Notification
    from deliverwatch.service.views import overview
    from deliverwatch.store import stats

    name = "weekly" if period >= timedelta(days=7) else "daily"
    rows = sorted(overview(conn, config, clock), key=lambda r: (_ORDER.get(r.status, 9), r.domain))
    lines: list[str] = []
    members: list[dict[str, Any]] = []
    for row in rows:
        (window,) = stats(conn, domain=row.domain, since=now - period, until=now)
        alerts = sum(row.alerts.values())
        score = f"{row.score:.0f} ({row.grade})" if row.score is not None else "no score"
        bounce, complaint = window.bounce_rate.value, window.complaint_rate.value
        lines.append(
            f"{row.domain}: {row.status}, score {score}, {window.sent:,} sent, "
            f"bounce {_pct(bounce)}, complaint {_pct(complaint)}"
            + (f", {alerts} active alert(s)" if alerts else "")
        )
        members.append(
            {
                "domain": row.domain,
                "status": row.status,
                "score": row.score,
                "grade": row.grade,
                "sent": window.sent,
                "bounce_rate": window.bounce_rate.value,
                "complaint_rate": window.complaint_rate.value,
                "alerts": row.alerts,
                "reasons": row.reasons,
            }
        )
    attention = [m for m in members if m["status"] in ("warning", "critical")]
    summary = (
        f"{len(members)} domain(s); {len(attention)} need attention"
        if members
        else "no domains with data yet"
    )
    actions = [f"{m['domain']}: {'; '.join(m['reasons'])}" for m in attention if m["reasons"]]
    period_key = int(now.timestamp()) // int(period.total_seconds())
    return Notification(
        id=f"digest-{name}-{period_key}",
        kind="digest",
        fingerprint=f"digest:{name}:{period_key}",
        severity="warning" if attention else "info",
        title=f"deliverwatch {name} digest: {summary}",
        summary=summary,
        created_at=now,
        group_key=f"digest:{name}",
        evidence=lines,
        actions=actions,
        link=config.notifications.dashboard_url,
        labels={"digest": name},
        alerts=members,
    )


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2%}"
