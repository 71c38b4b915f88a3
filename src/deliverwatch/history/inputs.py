"""Reading what a score needs from the store (the I/O half of ``scores.py``)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Connection

from deliverwatch.clock import Clock
from deliverwatch.dmarc.summary import Volume
from deliverwatch.history.scores import DmarcCounts, ScoreInputs, SendingCounts
from deliverwatch.store.dmarc import read_volumes
from deliverwatch.store.stats import StatsRow, stats

#: The windows the rate parts read (days).
SHORT_WINDOW, LONG_WINDOW = 7, 30


def gather_inputs(
    conn: Connection, domain: str, audit: dict[str, Any] | None, clock: Clock
) -> ScoreInputs:
    """The domain's sending counts over the last 7 and 30 days (from the rollups), its DMARC
    aggregate volumes over the last 30 days, and the given audit report."""
    now = clock.now()
    windows = {}
    for days in (SHORT_WINDOW, LONG_WINDOW):
        (row,) = stats(conn, domain=domain, since=now - timedelta(days=days), until=now)
        windows[days] = sending_counts(row, days)
    volumes = read_volumes(conn, domain=domain, since=now - timedelta(days=LONG_WINDOW), until=now)
    return ScoreInputs(
        domain=domain,
        at=now,
        audit=audit,
        sending_7d=windows[SHORT_WINDOW],
        sending_30d=windows[LONG_WINDOW],
        dmarc=dmarc_counts(volumes, LONG_WINDOW),
    )


def sending_counts(row: StatsRow, days: int) -> SendingCounts | None:
    """The counts of a stats row; None when nothing was sent or delivered in the window."""
    if row.sent == 0 and row.delivered == 0:
        return None
    return SendingCounts(
        days=days,
        sent=row.sent,
        delivered=row.delivered,
        bounces=row.bounces,
        hard_bounces=row.hard_bounces,
        complaints=row.complaints,
        opens=row.opens,
        clicks=row.clicks,
        unique_opens=row.unique_opens,
        unique_clicks=row.unique_clicks,
    )


def dmarc_counts(volumes: Iterable[Volume], days: int) -> DmarcCounts | None:
    """Totals over sources; a source (IP) that passes at least once is legitimate."""
    by_ip: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for volume in volumes:
        tally = by_ip[volume.source_ip]
        tally[0] += volume.count
        if volume.dmarc_pass:
            tally[1] += volume.count
    if not by_ip:
        return None
    legitimate = [t for t in by_ip.values() if t[1] > 0]
    failing = [t for t in by_ip.values() if t[1] == 0]
    return DmarcCounts(
        days=days,
        messages=sum(t[0] for t in by_ip.values()),
        passed=sum(t[1] for t in by_ip.values()),
        legitimate_messages=sum(t[0] for t in legitimate),
        legitimate_passed=sum(t[1] for t in legitimate),
        failing_sources=len(failing),
        failing_messages=sum(t[0] for t in failing),
    )
