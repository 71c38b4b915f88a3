"""The lifecycle state machine (pure): pending → firing → resolved, reminders, flapping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from deliverwatch.alerts.lifecycle import Step, Timing, step
from deliverwatch.alerts.model import Alert, Signal

T = datetime(2026, 3, 4, 10, 0, tzinfo=UTC)
TIMING = Timing(timedelta(minutes=10), timedelta(hours=4), clear_after=2)


def signal(state: str, severity: str = "warning") -> Signal:
    return Signal(
        rule="r", kind="rate", domain="shop.test", state=state, severity=severity, summary="s"
    )  # type: ignore[arg-type]


def run(alert: Alert | None, state: str | None, minutes: int, **kw: object) -> Step:
    return step(
        alert,
        None if state is None else signal(state, **kw),  # type: ignore[arg-type]
        TIMING,
        T + timedelta(minutes=minutes),
    )


def test_pending_must_hold_for_before_firing() -> None:
    first = run(None, "active", 0)
    assert first.alert is not None and first.alert.state == "pending"
    assert first.notices == []
    alert = first.alert
    assert run(alert, "active", 5).alert.state == "pending"  # type: ignore[union-attr]
    fired = run(alert, "active", 10)
    assert alert.state == "firing" and fired.notices == ["firing"]
    assert alert.fired_at == T + timedelta(minutes=10)


def test_pending_that_clears_is_dropped_and_hold_keeps_it() -> None:
    alert = run(None, "active", 0).alert
    assert run(alert, "hold", 5).delete is False
    gone = run(alert, "clear", 6)
    assert gone.delete and gone.notices == []


def test_for_zero_fires_at_once() -> None:
    now = step(None, signal("active"), Timing(timedelta(0), timedelta(hours=1), 1), T)
    assert now.alert is not None and now.alert.state == "firing" and now.notices == ["firing"]


def firing() -> Alert:
    alert = run(None, "active", 0).alert
    assert alert is not None
    run(alert, "active", 10)
    alert.id = 1
    alert.last_notified_at = alert.fired_at
    return alert


def test_resolves_after_n_clear_evaluations_with_a_notice_at_once() -> None:
    alert = firing()
    assert run(alert, "clear", 11).notices == []
    assert run(alert, "hold", 12).notices == []  # a hold neither counts nor resets
    assert alert.clear_count == 1
    done = run(alert, "clear", 13)
    assert alert.state == "resolved" and done.notices == ["resolved"]
    assert alert.resolved_by == "auto"


def test_active_resets_the_clear_count() -> None:
    alert = firing()
    run(alert, "clear", 11)
    run(alert, "active", 12)
    run(alert, "clear", 13)
    assert alert.state == "firing"


def test_reminders_every_repeat_interval_until_acknowledged() -> None:
    alert = firing()
    assert run(alert, "active", 10 + 239).notices == []
    assert run(alert, "active", 10 + 240).notices == ["reminder"]
    alert.last_notified_at = T + timedelta(minutes=250)
    alert.acknowledged_at = T + timedelta(minutes=260)
    assert run(alert, "active", 10 + 600).notices == []


def test_a_rise_in_severity_notifies_again() -> None:
    alert = firing()
    raised = run(alert, "active", 20, severity="critical")
    assert raised.notices == ["firing"] and alert.severity == "critical"
    assert run(alert, "active", 21, severity="warning").notices == []  # lowering: quiet


def test_flapping_reopens_the_same_alert_and_needs_more_clears() -> None:
    alert = firing()
    run(alert, "clear", 11)
    run(alert, "clear", 12)
    assert alert.state == "resolved"
    alert.resolved_at = T + timedelta(minutes=12)
    again = step(None, signal("active"), TIMING, T + timedelta(minutes=30), recently_resolved=alert)
    assert again.alert is alert and alert.state == "pending" and alert.flap_count == 1
    run(alert, "active", 40)
    assert alert.state == "firing"
    for minute in (41, 42, 43):
        run(alert, "clear", minute)
        assert alert.state == "firing"  # 2 × 2 = 4 clears needed now
    assert run(alert, "clear", 44).notices == ["resolved"]
    late = step(None, signal("active"), TIMING, T + timedelta(hours=8), recently_resolved=alert)
    assert late.alert is not alert  # resolved long ago: a new alert
