"""The time source: the system clock in production, a clock tests move by hand.

Everything that decides by time (alert lifecycle, schedules, outbox retries, quiet hours)
takes a :class:`Clock` instead of calling ``datetime.now``, so tests can walk through hours
and a DST change without sleeping.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that stands still until moved."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start")
        self._now = start.astimezone(UTC)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta) -> datetime:
        self._now += delta
        return self._now

    def set(self, moment: datetime) -> None:
        self._now = moment.astimezone(UTC)


def epoch_floor(moment: datetime) -> int:
    """``moment`` in whole Unix seconds, rounded down: the start of a window."""
    return math.floor(moment.timestamp())


def epoch_ceil(moment: datetime) -> int:
    """``moment`` in whole Unix seconds, rounded up: the (exclusive) end of a window.

    ``int()`` would round ``12:01:00.3`` down to ``12:01:00`` and so leave out an event
    stored at ``12:01:00.1``, in the window's last minute."""
    return math.ceil(moment.timestamp())
