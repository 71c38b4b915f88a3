"""Counting reports on days: one day for a day-long report, spread in proportion otherwise."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deliverwatch.dmarc.days import DAY, MAX_SPREAD_DAYS, DaySpreader, SpanError, report_days

D0 = 1_700_006_400  # 2023-11-15 00:00 UTC


@pytest.mark.parametrize(
    ("begin", "end", "day"),
    [
        (D0, D0 + DAY - 1, D0),  # Google: 00:00:00 to 23:59:59
        (D0, D0 + DAY, D0),  # Microsoft: midnight to midnight
        (D0 - 2 * 3600, D0 + DAY - 2 * 3600, D0),  # a local day, 22:00 to 22:00 UTC
        (D0 + 5, D0 + 5, D0),  # an instant
        (D0 + 50, D0 + 10, D0),  # end before begin
    ],
)
def test_a_day_or_less_counts_on_one_day(begin: int, end: int, day: int) -> None:
    assert report_days(begin, end) == [(day, 1.0)]


def test_longer_reports_spread_in_proportion() -> None:
    days = report_days(D0 + DAY // 2, D0 + 3 * DAY)  # half of day 0, days 1 and 2
    assert [(day, round(share, 3)) for day, share in days] == [
        (D0, 0.2),
        (D0 + DAY, 0.4),
        (D0 + 2 * DAY, 0.4),
    ]
    spreader = DaySpreader(D0 + DAY // 2, D0 + 3 * DAY)
    assert spreader.split(10) == [(D0, 2), (D0 + DAY, 4), (D0 + 2 * DAY, 4)]
    totals: Counter[int] = Counter()
    for _ in range(1000):  # a thousand one-message records do not all land on one day
        for day, count in spreader.split(1):
            totals[day] += count
    assert totals == {D0: 200, D0 + DAY: 400, D0 + 2 * DAY: 400}


def test_absurd_spans_are_refused() -> None:
    report_days(D0, D0 + MAX_SPREAD_DAYS * DAY)
    with pytest.raises(SpanError, match="more than 31"):
        report_days(D0, D0 + 400 * DAY)


@given(
    st.integers(0, 5 * DAY),
    st.integers(DAY + 1, 10 * DAY),
    st.lists(st.integers(0, 10_000), min_size=1, max_size=60),
)
def test_spreading_is_exact_and_proportional(offset: int, span: int, counts: list[int]) -> None:
    begin, end = D0 + offset, D0 + offset + span
    spreader = DaySpreader(begin, end)
    totals: Counter[int] = Counter()
    for count in counts:
        parts = spreader.split(count)
        assert sum(n for _, n in parts) == count
        assert all(n > 0 for _, n in parts)
        for day, n in parts:
            totals[day] += n
    for day, share in report_days(begin, end):
        assert abs(totals[day] - share * sum(counts)) < 2
