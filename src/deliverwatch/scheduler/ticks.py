"""Pure tick arithmetic: which slot of a job's interval an instant falls in."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime, timedelta


def offset_seconds(job: str, jitter: timedelta) -> int:
    """The job's fixed offset into its interval: the same on every instance and restart."""
    span = int(jitter.total_seconds())
    return zlib.crc32(job.encode()) % span if span > 0 else 0


def tick_of(now: datetime, interval: timedelta, offset: int = 0) -> int:
    """Unix seconds of the start of the slot containing ``now``."""
    step = max(1, int(interval.total_seconds()))
    epoch = int(now.timestamp())
    return (epoch - offset) // step * step + offset


def next_tick(now: datetime, interval: timedelta, offset: int = 0) -> datetime:
    step = max(1, int(interval.total_seconds()))
    return datetime.fromtimestamp(tick_of(now, interval, offset) + step, UTC)
