"""Which UTC days a report's messages count on.

A report covers ``[begin, end)``. One that covers a day or less counts on the UTC day holding
its midpoint (a receiver's local day, 22:00 to 22:00 UTC, lands on the day it mostly covers).
A longer one is spread over the UTC days it overlaps, in proportion to the overlap, as
parsedmarc and most dashboards do; the report row keeps the original span.

Each record's count is split into whole messages with error diffusion: the fraction a record
could not place is carried to the next record, so the report's per-day totals stay within a
message or two of exact proportion however many small records it has (rounding each record
alone would put every one-message record on the same, largest day).
"""

from __future__ import annotations

import math

DAY = 86_400
#: Reports spanning more days than this are refused (no receiver sends them; spreading a
#: bogus ten-year range would write ten years of rows).
MAX_SPREAD_DAYS = 31


class SpanError(ValueError):
    """A date range longer than ``MAX_SPREAD_DAYS``."""


def day_of(moment: int) -> int:
    """The UTC midnight (Unix seconds) of the day holding ``moment``."""
    return moment - moment % DAY


def report_days(begin: int, end: int) -> list[tuple[int, float]]:
    """``(day, share)`` pairs for a report covering ``[begin, end)``; shares sum to 1."""
    if end <= begin:
        return [(day_of(begin), 1.0)]
    span = end - begin
    if span <= DAY:
        return [(day_of(begin + span // 2), 1.0)]
    first, last = day_of(begin), day_of(end - 1)
    if (last - first) // DAY + 1 > MAX_SPREAD_DAYS:
        raise SpanError(
            f"the date range spans {(last - first) // DAY + 1} days "
            f"(more than {MAX_SPREAD_DAYS}); refused"
        )
    days = []
    for day in range(first, last + 1, DAY):
        overlap = min(end, day + DAY) - max(begin, day)
        days.append((day, overlap / span))
    return days


class DaySpreader:
    """Splits record counts over a report's days (see the module docstring)."""

    def __init__(self, begin: int, end: int) -> None:
        spread = report_days(begin, end)
        self.days = [day for day, _ in spread]
        self._shares = [share for _, share in spread]
        self._carry = [0.0] * len(spread)

    @property
    def single_day(self) -> int | None:
        """The day, when the report counts on one day only (the usual case)."""
        return self.days[0] if len(self.days) == 1 else None

    def split(self, count: int) -> list[tuple[int, int]]:
        """``(day, messages)`` for a record of ``count`` messages; the messages sum to
        ``count`` and none is negative."""
        if len(self.days) == 1:
            return [(self.days[0], count)]
        wanted = [
            count * share + carry for share, carry in zip(self._shares, self._carry, strict=True)
        ]
        given = [max(0, math.floor(value)) for value in wanted]
        left = count - sum(given)
        order = sorted(range(len(given)), key=lambda i: wanted[i] - given[i], reverse=True)
        if left > 0:
            for i in order[:left]:
                given[i] += 1
        elif left < 0:
            for i in reversed(order):
                if left == 0:
                    break
                if given[i] > 0:
                    given[i] -= 1
                    left += 1
        self._carry = [value - n for value, n in zip(wanted, given, strict=True)]
        return [(day, n) for day, n in zip(self.days, given, strict=True) if n]
