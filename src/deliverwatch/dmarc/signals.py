"""What the DMARC rollups say that may deserve an alert: pure functions over day rows.

* :func:`new_sources`: sources sending as a domain that were never seen before a time;
* :func:`failing_sources`: sources whose DMARC failures reach a volume;
* :func:`pass_rate_by_day` and :func:`pass_rate_change`: the aligned pass rate per day, and
  how much the recent days fell below the days before (a drop).

The rows come from ``store.dmarc.read_days`` (messages per UTC day, header-From domain and
source IP). Reports arrive a day or two late, so the latest days are often incomplete: a
caller should judge volumes and rates on days old enough to be reported (``until``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

DAY = 86_400


@dataclass(frozen=True, slots=True)
class DayVolume:
    """Messages from one source IP with one header-From domain on one UTC day."""

    day: int  # Unix seconds of the UTC midnight
    domain: str
    source_ip: str
    messages: int
    dmarc_pass: int
    dkim_aligned: int
    spf_aligned: int

    @property
    def failed(self) -> int:
        return self.messages - self.dmarc_pass


def _at(day: int) -> datetime:
    return datetime.fromtimestamp(day, UTC)


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass(frozen=True, slots=True)
class SourceVolume:
    """One source's messages as one domain over the rows given (``new_sources`` and
    ``failing_sources`` results)."""

    domain: str
    source_ip: str
    first_day: datetime
    last_day: datetime
    messages: int
    dmarc_pass: int
    dkim_aligned: int
    spf_aligned: int

    @property
    def failed(self) -> int:
        return self.messages - self.dmarc_pass

    @property
    def pass_rate(self) -> float | None:
        return _rate(self.dmarc_pass, self.messages)

    def to_dict(self) -> dict[str, object]:
        return {
            "domain": self.domain,
            "source_ip": self.source_ip,
            "first_day": self.first_day.date().isoformat(),
            "last_day": self.last_day.date().isoformat(),
            "messages": self.messages,
            "dmarc_pass": self.dmarc_pass,
            "failed": self.failed,
            "dkim_aligned": self.dkim_aligned,
            "spf_aligned": self.spf_aligned,
            "pass_rate": self.pass_rate,
        }


def _by_source(rows: Iterable[DayVolume]) -> dict[tuple[str, str], SourceVolume]:
    found: dict[tuple[str, str], SourceVolume] = {}
    for row in rows:
        key = (row.domain, row.source_ip)
        seen = found.get(key)
        if seen is None:
            found[key] = SourceVolume(
                row.domain,
                row.source_ip,
                _at(row.day),
                _at(row.day),
                row.messages,
                row.dmarc_pass,
                row.dkim_aligned,
                row.spf_aligned,
            )
        else:
            found[key] = SourceVolume(
                row.domain,
                row.source_ip,
                min(seen.first_day, _at(row.day)),
                max(seen.last_day, _at(row.day)),
                seen.messages + row.messages,
                seen.dmarc_pass + row.dmarc_pass,
                seen.dkim_aligned + row.dkim_aligned,
                seen.spf_aligned + row.spf_aligned,
            )
    return found


def new_sources(
    rows: Iterable[DayVolume], since: datetime, *, min_messages: int = 1
) -> list[SourceVolume]:
    """Sources (per domain and IP) whose first day in ``rows`` is on or after the UTC day of
    ``since``, with at least ``min_messages`` messages, most messages first. "Never seen
    before" is only as good as the history given: pass rows from a lookback (say 90 days)
    before ``since`` as well."""
    start = int(since.timestamp()) // DAY * DAY
    found = [
        source
        for source in _by_source(rows).values()
        if source.first_day.timestamp() >= start and source.messages >= min_messages
    ]
    return sorted(found, key=lambda s: (-s.messages, s.domain, s.source_ip))


def failing_sources(
    rows: Iterable[DayVolume], *, min_failed: int, since: datetime | None = None
) -> list[SourceVolume]:
    """Sources (per domain and IP) with at least ``min_failed`` messages failing DMARC in
    the rows (from ``since``'s UTC day on, when given), most failures first."""
    start = int(since.timestamp()) // DAY * DAY if since is not None else None
    selected = (row for row in rows if start is None or row.day >= start)
    found = [source for source in _by_source(selected).values() if source.failed >= min_failed]
    return sorted(found, key=lambda s: (-s.failed, s.domain, s.source_ip))


@dataclass(frozen=True, slots=True)
class DayRate:
    """One UTC day of a domain's mail: messages and how many passed, aligned or not."""

    day: datetime
    messages: int
    dmarc_pass: int
    dkim_aligned: int
    spf_aligned: int

    @property
    def pass_rate(self) -> float | None:
        return _rate(self.dmarc_pass, self.messages)

    def to_dict(self) -> dict[str, object]:
        return {
            "day": self.day.date().isoformat(),
            "messages": self.messages,
            "dmarc_pass": self.dmarc_pass,
            "dkim_aligned": self.dkim_aligned,
            "spf_aligned": self.spf_aligned,
            "pass_rate": self.pass_rate,
        }


def pass_rate_by_day(rows: Iterable[DayVolume], domain: str | None = None) -> list[DayRate]:
    """The DMARC (aligned) pass rate per UTC day, oldest first, over all sources; with
    ``domain``, only rows of it and its subdomains. Days without mail are absent."""
    wanted = domain.lower().rstrip(".") if domain else None
    days: dict[int, list[int]] = {}
    for row in rows:
        if wanted and row.domain != wanted and not row.domain.endswith("." + wanted):
            continue
        tally = days.setdefault(row.day, [0, 0, 0, 0])
        tally[0] += row.messages
        tally[1] += row.dmarc_pass
        tally[2] += row.dkim_aligned
        tally[3] += row.spf_aligned
    return [DayRate(_at(day), *tally) for day, tally in sorted(days.items())]


@dataclass(frozen=True, slots=True)
class RateChange:
    """The pass rate of the recent days against the days before them."""

    recent_messages: int
    recent_rate: float | None
    baseline_messages: int
    baseline_rate: float | None

    @property
    def drop(self) -> float | None:
        """How far the rate fell (0.1 = ten points); negative when it rose."""
        if self.recent_rate is None or self.baseline_rate is None:
            return None
        return self.baseline_rate - self.recent_rate

    def to_dict(self) -> dict[str, object]:
        return {
            "recent_messages": self.recent_messages,
            "recent_rate": self.recent_rate,
            "baseline_messages": self.baseline_messages,
            "baseline_rate": self.baseline_rate,
            "drop": self.drop,
        }


def pass_rate_change(
    days: Iterable[DayRate], until: datetime, *, recent_days: int = 2, baseline_days: int = 14
) -> RateChange:
    """The pass rate over the ``recent_days`` UTC days before ``until``'s day against the
    ``baseline_days`` days before those (rates over messages, so busy days weigh more)."""
    end = int(until.timestamp()) // DAY * DAY
    recent_start = end - recent_days * DAY
    baseline_start = recent_start - baseline_days * DAY
    recent = [0, 0]
    baseline = [0, 0]
    for day in days:
        at = int(day.day.timestamp())
        target = recent if recent_start <= at < end else baseline
        if baseline_start <= at < end:
            target[0] += day.messages
            target[1] += day.dmarc_pass
    return RateChange(
        recent[0], _rate(recent[1], recent[0]), baseline[0], _rate(baseline[1], baseline[0])
    )


__all__ = [
    "DayRate",
    "DayVolume",
    "RateChange",
    "SourceVolume",
    "failing_sources",
    "new_sources",
    "pass_rate_by_day",
    "pass_rate_change",
]
