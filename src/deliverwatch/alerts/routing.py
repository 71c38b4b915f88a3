"""Routes, delivery windows and silences (pure).

A route takes the alerts its ``match`` selects (every given key must match; list items and
shell patterns like ``*.example.com`` are alternatives). Routes are tried in order; the first
that matches wins unless it says ``continue_matching``. With no routes configured, one
implicit route ``default`` sends everything to every configured channel.

Delivery windows: inside a route's ``quiet_hours``, or outside its ``business_hours``, a
notification that is not critical is held and goes out when the window opens. Windows are
local times in an IANA time zone, computed through ``zoneinfo`` for each date, so a window
"22:00–07:00 Europe/Berlin" is 22:00 local before and after a DST change.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from fnmatch import fnmatchcase
from zoneinfo import ZoneInfo

from deliverwatch.alerts.config import DAYS, HoursConfig, MatchConfig, RouteConfig

DEFAULT_ROUTE = "default"


def _any(patterns: Sequence[str], value: str) -> bool:
    return not patterns or any(fnmatchcase(value, pattern) for pattern in patterns)


def route_matches(match: MatchConfig, labels: Mapping[str, str]) -> bool:
    return (
        _any(match.domains, labels.get("domain", ""))
        and _any(match.rules, labels.get("rule", ""))
        and _any(match.mailbox_providers, labels.get("mailbox_provider", ""))
        and (not match.severities or labels.get("severity") in match.severities)
        and (not match.kinds or labels.get("kind") in match.kinds)
        and all(fnmatchcase(labels.get(k, ""), v) for k, v in match.labels.items())
    )


def default_routes(routes: Sequence[RouteConfig], channels: Sequence[str]) -> list[RouteConfig]:
    """The configured routes, or the implicit ``default`` route to every channel."""
    if routes:
        return list(routes)
    return [RouteConfig(name=DEFAULT_ROUTE, channels=list(channels))]


def routes_for(routes: Sequence[RouteConfig], labels: Mapping[str, str]) -> list[RouteConfig]:
    chosen = []
    for route in routes:
        if route_matches(route.match, labels):
            chosen.append(route)
            if not route.continue_matching:
                break
    return chosen


def group_key(route: RouteConfig, labels: Mapping[str, str]) -> str:
    if "domain" in route.group_by:
        return f"{route.name}/{labels.get('domain', '')}"
    return f"{route.name}/*"


# -- delivery windows -------------------------------------------------------------------------


def in_window(hours: HoursConfig, moment: datetime) -> bool:
    """Whether ``moment`` falls in the weekly window (local time in ``hours.timezone``)."""
    local = moment.astimezone(ZoneInfo(hours.timezone))
    day = DAYS[local.weekday()]
    yesterday = DAYS[(local.weekday() - 1) % 7]
    clock = local.time().replace(tzinfo=None)
    if hours.start == hours.end:
        return day in hours.days
    if hours.start < hours.end:
        return day in hours.days and hours.start <= clock < hours.end
    return (day in hours.days and clock >= hours.start) or (
        yesterday in hours.days and clock < hours.end
    )


def is_held(route: RouteConfig, severity: str, moment: datetime) -> bool:
    """Whether a notification of ``severity`` on ``route`` waits at ``moment``."""
    if severity == "critical":
        return False
    if route.quiet_hours is not None and in_window(route.quiet_hours, moment):
        return True
    return route.business_hours is not None and not in_window(route.business_hours, moment)


def _boundaries(hours: HoursConfig, after: datetime) -> list[datetime]:
    """Every start and end of the window from the day before ``after`` to 8 days later, UTC."""
    zone = ZoneInfo(hours.timezone)
    first = after.astimezone(zone).date() - timedelta(days=1)
    found = []
    for offset in range(10):
        date = first + timedelta(days=offset)
        for clock in (hours.start, hours.end):
            local = datetime.combine(date, clock, tzinfo=zone)
            found.append(local.astimezone(UTC))
    return found


def release_time(route: RouteConfig, severity: str, now: datetime) -> datetime:
    """When a notification of ``severity`` on ``route`` may go: ``now``, or the moment the
    route's window next opens (the first window boundary after which it is not held)."""
    if not is_held(route, severity, now):
        return now
    candidates: list[datetime] = []
    for hours in (route.quiet_hours, route.business_hours):
        if hours is not None:
            candidates += _boundaries(hours, now)
    for moment in sorted(c for c in candidates if c > now):
        if not is_held(route, severity, moment):
            return moment
    return now  # a window that never opens (quiet all week): better late rules than silence


# -- silences ---------------------------------------------------------------------------------


def silence_matches(matchers: Mapping[str, str], labels: Mapping[str, str]) -> bool:
    """Every matcher (label → value or shell pattern) must match; an empty set matches none."""
    return bool(matchers) and all(
        fnmatchcase(labels.get(key, ""), str(pattern)) for key, pattern in matchers.items()
    )
