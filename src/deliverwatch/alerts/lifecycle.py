"""The alert lifecycle as a pure state machine: (alert, signal, now) → (alert, what happened).

::

    (none) --active--> pending --active for `for`--> firing --clear × N--> resolved
               pending --clear--> (dropped)          firing --active/hold, every
                                                       repeat_interval--> reminder

* ``for``: a pending alert fires only once its signal has been active for that long
  (``for: 0`` fires at the first active evaluation).
* ``clear_after``: a firing alert resolves after that many clear evaluations in a row (a hold
  neither counts nor resets); the resolved notice goes out at once.
* Flapping: an alert that comes back within ``flap_window`` of its resolution reopens the
  same alert (pending again, ``for`` again) with ``flap_count + 1``, and each flap doubles the
  clear evaluations it needs to resolve (up to ``max_flap_factor``): a signal that keeps
  crossing the line settles into one firing alert instead of a firing/resolved pair per hour.
* Acknowledged alerts get no reminders (and, in the engine, no escalation).

Escalation and silences need routes and silences, so the engine handles them
(``engine.py``); everything here is decided from the alert, the signal and the time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from deliverwatch.alerts.config import severity_rank
from deliverwatch.alerts.model import ACTIVE, HOLD, Alert, Signal


@dataclass(frozen=True, slots=True)
class Timing:
    for_: timedelta
    repeat_interval: timedelta
    clear_after: int
    flap_window: timedelta = timedelta(hours=6)
    max_flap_factor: int = 16

    def clears_needed(self, flap_count: int) -> int:
        return self.clear_after * min(1 << min(flap_count, 30), self.max_flap_factor)


@dataclass(slots=True)
class Step:
    """What one evaluation did to one alert: the alert after it (``delete``: a pending alert
    that went away), the transitions to record as (event, from, to) and the notices to send."""

    alert: Alert | None
    changed: bool = False
    delete: bool = False
    transitions: list[tuple[str, str | None, str | None]] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


def _absorb(alert: Alert, signal: Signal, now: datetime) -> None:
    """Take the signal's current numbers and words."""
    alert.severity = signal.severity
    alert.summary = signal.summary or alert.summary
    if signal.evidence:
        alert.evidence = list(signal.evidence)
    alert.details = signal.details()
    alert.last_active_at = now


def open_alert(signal: Signal, now: datetime) -> Alert:
    return Alert(
        id=None,
        fingerprint=signal.fingerprint,
        rule=signal.rule,
        kind=signal.kind,
        domain=signal.domain,
        provider=signal.provider,
        subject=signal.subject,
        severity=signal.severity,
        state="pending",
        summary=signal.summary,
        evidence=list(signal.evidence),
        details=signal.details(),
        started_at=now,
        last_evaluated_at=now,
        last_active_at=now,
    )


def step(
    alert: Alert | None,
    signal: Signal | None,
    timing: Timing,
    now: datetime,
    *,
    recently_resolved: Alert | None = None,
) -> Step:
    """One evaluation. ``signal`` None means the rule saw nothing for this subject (clear).
    ``recently_resolved``: the fingerprint's latest resolved alert, if any (for flapping)."""
    state = signal.state if signal is not None else "clear"
    if alert is None or not alert.is_open:
        if state != ACTIVE or signal is None:
            return Step(None)
        result = Step(None, changed=True)
        if (
            recently_resolved is not None
            and recently_resolved.resolved_at is not None
            and (now - recently_resolved.resolved_at <= timing.flap_window)
        ):
            alert = recently_resolved
            alert.state = "pending"
            alert.started_at = now
            alert.resolved_at = None
            alert.resolved_by = None
            alert.acknowledged_at = None
            alert.acknowledged_by = None
            alert.escalated_at = None
            alert.clear_count = 0
            alert.flap_count += 1
            _absorb(alert, signal, now)
            result.transitions.append(("reopened", "resolved", "pending"))
        else:
            alert = open_alert(signal, now)
            result.transitions.append(("pending", None, "pending"))
        result.alert = alert
        if timing.for_ <= timedelta(0):
            _fire(alert, result, now)
        alert.last_evaluated_at = now
        return result

    result = Step(alert)
    previous = (alert.severity, alert.summary, alert.state, alert.clear_count)
    if alert.state == "pending":
        if state == ACTIVE and signal is not None:
            _absorb(alert, signal, now)
            if now - alert.started_at >= timing.for_:
                _fire(alert, result, now)
        elif state != HOLD:
            if alert.flap_count > 0:  # a reopened alert that did not hold: resolved again
                alert.state = "resolved"
                alert.resolved_at = now
                alert.resolved_by = "auto"
                result.transitions.append(("dropped", "pending", "resolved"))
            else:
                result.delete = True
                result.transitions.append(("dropped", "pending", None))
            result.changed = True
            return result
    elif alert.state == "firing":
        if state == ACTIVE and signal is not None:
            before = alert.severity
            _absorb(alert, signal, now)
            alert.clear_count = 0
            if severity_rank(alert.severity) > severity_rank(before):
                result.transitions.append((f"severity:{before}->{alert.severity}", None, None))
                result.notices.append("firing")
        if state in (ACTIVE, HOLD):
            _remind(alert, result, timing, now)
        else:
            alert.clear_count += 1
            if alert.clear_count >= timing.clears_needed(alert.flap_count):
                alert.state = "resolved"
                alert.resolved_at = now
                alert.resolved_by = "auto"
                result.transitions.append(("resolved", "firing", "resolved"))
                result.notices.append("resolved")
    alert.last_evaluated_at = now
    result.changed = (
        result.changed
        or bool(result.transitions or result.notices)
        or previous != (alert.severity, alert.summary, alert.state, alert.clear_count)
    )
    return result


def _fire(alert: Alert, result: Step, now: datetime) -> None:
    alert.state = "firing"
    alert.fired_at = now
    alert.clear_count = 0
    result.transitions.append(("firing", "pending", "firing"))
    result.notices.append("firing")
    result.changed = True


def _remind(alert: Alert, result: Step, timing: Timing, now: datetime) -> None:
    if alert.acknowledged_at is not None or alert.silenced or "firing" in result.notices:
        return
    last = alert.last_notified_at or alert.fired_at
    if last is not None and now - last >= timing.repeat_interval:
        result.transitions.append(("reminder", None, None))
        result.notices.append("reminder")
