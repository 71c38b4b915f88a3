"""Time windows as users write them: ``1h``, ``24h``, ``7d``, ``30d``, ``SINCE..UNTIL``.

parse_window("7d", now)                        # the 7 days up to now
parse_window("2026-11-01..2026-11-08", now)    # dates are UTC midnights
parse_window("2026-11-01T06:00Z..", now)       # open end: up to now
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_DURATION = re.compile(r"^(\d+)\s*([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class WindowError(ValueError):
    """A window the user wrote that cannot be understood; the message says what is expected."""


def parse_duration(text: str) -> timedelta:
    match = _DURATION.match(text.strip().lower())
    if not match or int(match.group(1)) == 0:
        raise WindowError(f"{text!r} is not a duration like 30m, 1h, 24h, 7d or 4w")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def parse_instant(text: str) -> datetime:
    """An ISO 8601 date or date-time; without a zone it is UTC."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise WindowError(f"{text!r} is not an ISO 8601 date or date-time") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def parse_window(text: str, now: datetime) -> tuple[datetime, datetime]:
    """``[since, until)`` in UTC for a duration up to ``now`` or an explicit range."""
    if ".." in text:
        start, _, end = text.partition("..")
        since = parse_instant(start) if start.strip() else None
        until = parse_instant(end) if end.strip() else now
        if since is None:
            raise WindowError(f"{text!r}: a range needs a start (SINCE..UNTIL or SINCE..)")
        if until <= since:
            raise WindowError(f"{text!r}: the end must be after the start")
        return since, until
    return now - parse_duration(text), now
