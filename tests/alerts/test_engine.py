"""The engine end to end on a real SQLite file, with a fake clock: events in, alert states
and outbox rows out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine

from deliverwatch.alerts.engine import evaluate
from deliverwatch.alerts.store import (
    acknowledge,
    add_silence,
    alert_transitions_of,
    list_alerts,
)
from deliverwatch.clock import FakeClock
from deliverwatch.config import Config
from deliverwatch.store import create_engine
from tests.alerts.conftest import T0, complaint_rule, events, make_config, outbox, store

MIN = timedelta(minutes=1)
CRITICAL = {"delivered": 5000, "complaints": 40}  # 0.8%, interval 0.59%-1.09%
WARNING = {"delivered": 20_000, "complaints": 40}  # 0.2%, interval 0.15%-0.27%


def kinds(engine: Engine) -> list[str]:
    return [row["kind"] for row in outbox(engine)]


def test_pending_firing_resolved_and_one_alert_per_problem(db: Engine) -> None:
    clock = FakeClock(T0)
    config = make_config(rules=[complaint_rule()])
    store(db, events(T0 - 30 * MIN, **CRITICAL))
    result = evaluate(db, config, clock)
    assert (result.opened, result.fired, result.notifications) == (1, 0, 0)
    with db.connect() as conn:
        (alert,) = list_alerts(conn)
    assert alert.state == "pending"
    clock.advance(5 * MIN)
    evaluate(db, config, clock)
    assert kinds(db) == []
    clock.advance(5 * MIN)
    assert evaluate(db, config, clock).fired == 1
    for _ in range(3):  # the same problem stays one alert and one notification
        clock.advance(MIN)
        evaluate(db, config, clock)
    with db.connect() as conn:
        (alert,) = list_alerts(conn)
    assert alert.state == "firing" and alert.severity == "critical"
    assert kinds(db) == ["firing"]
    (firing,) = outbox(db)
    assert firing["title"].startswith("[CRITICAL] complaint rate 0.80% on shop.test")
    assert "95% interval 0.59%–1.09%" in firing["evidence"][0]
    assert firing["link"] == f"https://dw.example.com/alerts/{alert.id}"
    assert firing["causes"] and firing["actions"]
    # the events (09:30) leave the 1h window, read in whole hours, at 11:00 - 1h:
    # clear, clear → resolved, notified at once
    clock.set(T0 + 61 * MIN)
    evaluate(db, config, clock)
    assert kinds(db) == ["firing"]
    clock.advance(MIN)
    assert evaluate(db, config, clock).resolved == 1
    assert kinds(db) == ["firing", "resolved"]
    with db.connect() as conn:
        (alert,) = list_alerts(conn)
        events_of = [t.event for t in alert_transitions_of(conn, alert.id or 0)]
    assert alert.state == "resolved"
    assert events_of[:2] == ["pending", "firing"] and "resolved" in events_of


def test_repeat_reminders(db: Engine) -> None:
    clock = FakeClock(T0)
    config = make_config(rules=[complaint_rule(window="24h", **{"for": 0})])
    store(db, events(T0 - 30 * MIN, **CRITICAL))
    evaluate(db, config, clock)
    clock.advance(timedelta(hours=3, minutes=59))
    evaluate(db, config, clock)
    assert kinds(db) == ["firing"]
    clock.advance(MIN)
    assert evaluate(db, config, clock).reminders == 1
    assert kinds(db) == ["firing", "reminder"]
    assert outbox(db)[1]["title"].startswith("[CRITICAL] still firing after 4h 00m")


ESCALATING_ROUTES = [
    {"name": "team", "channels": ["ops"], "escalate_to": "pager", "escalate_after": "30m"},
    {"name": "pager", "channels": ["pd"], "match": {"labels": {"escalation": "only"}}},
]


def test_escalation_when_not_acknowledged(db: Engine) -> None:
    clock = FakeClock(T0)
    config = make_config(
        rules=[complaint_rule(window="24h", **{"for": 0})],
        routes=ESCALATING_ROUTES,
        channels=("ops", "pd"),
    )
    store(db, events(T0 - 30 * MIN, **CRITICAL))
    evaluate(db, config, clock)
    clock.advance(29 * MIN)
    evaluate(db, config, clock)
    assert [(r["kind"], r["channel"]) for r in outbox(db)] == [("firing", "ops")]
    clock.advance(MIN)
    assert evaluate(db, config, clock).escalations == 1
    clock.advance(MIN)
    evaluate(db, config, clock)  # escalates once
    rows = outbox(db)
    assert [(r["kind"], r["channel"]) for r in rows] == [("firing", "ops"), ("escalation", "pd")]
    assert "ESCALATED, not acknowledged for 30m" in rows[1]["title"]


def test_acknowledge_stops_reminders_and_escalation(db: Engine) -> None:
    clock = FakeClock(T0)
    config = make_config(
        rules=[complaint_rule(window="24h", **{"for": 0})],
        routes=ESCALATING_ROUTES,
        channels=("ops", "pd"),
    )
    store(db, events(T0 - 30 * MIN, **CRITICAL))
    evaluate(db, config, clock)
    with db.connect() as conn:
        (alert,) = list_alerts(conn)
    clock.advance(10 * MIN)
    acked = acknowledge(db, alert.id or 0, "alice", clock)
    assert acked is not None and acked.acknowledged_by == "alice"
    for _ in range(6):
        clock.advance(timedelta(hours=1))
        evaluate(db, config, clock)
    assert [(r["kind"], r["channel"]) for r in outbox(db)] == [
        ("firing", "ops"),
        ("acknowledged", "ops"),
    ]
    assert outbox(db)[1]["title"].startswith("[ACKNOWLEDGED by alice]")


def test_silenced_alert_changes_state_but_sends_nothing(db: Engine) -> None:
    clock = FakeClock(T0)
    config = make_config(rules=[complaint_rule(window="24h", **{"for": 0})])
    add_silence(db, {"domain": "shop.*"}, T0 + timedelta(hours=1), "bob", "maintenance", clock)
    store(db, events(T0 - 30 * MIN, **CRITICAL))
    result = evaluate(db, config, clock)
    assert result.fired == 1 and result.silenced == 1
    assert kinds(db) == []
    with db.connect() as conn:
        (alert,) = list_alerts(conn)
        assert "silenced" in [t.event for t in alert_transitions_of(conn, alert.id or 0)]
    assert alert.state == "firing" and alert.silenced
    clock.advance(timedelta(minutes=30))
    evaluate(db, config, clock)
    assert kinds(db) == []
    clock.advance(timedelta(minutes=30))  # the silence has ended: people hear of it now
    evaluate(db, config, clock)
    assert kinds(db) == ["firing"]


def quiet_config() -> Config:
    return make_config(
        rules=[complaint_rule(window="24h", **{"for": 0})],
        routes=[
            {
                "name": "team",
                "channels": ["ops"],
                "quiet_hours": {"timezone": "Europe/Berlin", "start": "22:00", "end": "07:00"},
            }
        ],
    )


def test_quiet_hours_hold_until_the_window_opens_across_dst(db_path: Path, db: Engine) -> None:
    night = datetime(2026, 3, 28, 22, 0, tzinfo=UTC)  # 23:00 CET; DST starts at 02:00
    clock = FakeClock(night)
    config = quiet_config()
    store(db, events(night - 30 * MIN, domain="warn.test", **WARNING))
    store(db, events(night - 30 * MIN, domain="crit.test", **CRITICAL))
    result = evaluate(db, config, clock)
    assert result.fired == 2 and result.held == 1
    assert [(r["severity"], r["domain"]) for r in outbox(db)] == [("critical", "crit.test")]
    # a restart in the night: the held notice is in the store
    db.dispose()
    restarted = create_engine(f"sqlite:///{db_path}")
    clock.set(datetime(2026, 3, 29, 4, 59, tzinfo=UTC))  # 06:59 CEST
    evaluate(restarted, config, clock)

    def warned() -> list[str]:
        return [r["kind"] for r in outbox(restarted) if r["domain"] == "warn.test"]

    assert warned() == []
    assert [r["kind"] for r in outbox(restarted)] == ["firing", "reminder"]  # critical: not held
    clock.set(datetime(2026, 3, 29, 5, 0, tzinfo=UTC))  # 07:00 CEST
    evaluate(restarted, config, clock)
    assert warned() == ["firing"]  # no reminder piled up behind the held notice
    assert outbox(restarted)[-1]["created_at"].startswith("2026-03-29T05:00")
    clock.advance(MIN)
    evaluate(restarted, config, clock)
    assert warned() == ["firing"]  # released once
    restarted.dispose()


def test_alerts_of_one_domain_are_grouped(db: Engine) -> None:
    clock = FakeClock(T0)
    bounce_rule = complaint_rule(
        name="bounces", metric="hard_bounce_rate", thresholds={"warning": 0.02}, **{"for": 0}
    )
    config = make_config(rules=[complaint_rule(**{"for": 0}), bounce_rule])
    store(db, events(T0 - 30 * MIN, hard_bounces=500, **CRITICAL))
    store(db, events(T0 - 30 * MIN, domain="other.test", **CRITICAL))
    evaluate(db, config, clock)
    rows = outbox(db)
    assert len(rows) == 2
    grouped = next(r for r in rows if r["domain"] == "shop.test")
    assert grouped["title"] == "[CRITICAL] 2 alerts firing on shop.test"
    assert {a["rule"] for a in grouped["alerts"]} == {"complaints", "bounces"}
    assert grouped["link"] == "https://dw.example.com/domains/shop.test"
    single = next(r for r in rows if r["domain"] == "other.test")
    assert single["alerts"] == []


def test_restart_loses_nothing_and_resends_nothing(db_path: Path, db: Engine) -> None:
    clock = FakeClock(T0)
    config = make_config(rules=[complaint_rule()])
    store(db, events(T0 - 30 * MIN, **CRITICAL))
    evaluate(db, config, clock)  # pending
    db.dispose()
    for minutes in (10, 11, 12):  # a new engine object (a new process) each time
        engine = create_engine(f"sqlite:///{db_path}")
        clock.set(T0 + minutes * MIN)
        evaluate(engine, config, clock)
        engine.dispose()
    engine = create_engine(f"sqlite:///{db_path}")
    with engine.connect() as conn:
        (alert,) = list_alerts(conn)
    assert alert.state == "firing" and alert.started_at == T0
    assert kinds(engine) == ["firing"]
    engine.dispose()


def test_regressions_from_audit_history(db: Engine) -> None:
    from deliverwatch.history.store import record_audit
    from deliverwatch.store import begin_write
    from tests.history.reports import changed, finding, good_report

    clock = FakeClock(T0)
    config = make_config(rules=[{"name": "auth", "kind": "regression", "for": 0, "clear_after": 1}])
    good = good_report("shop.test")
    broken = changed(good, findings=[finding("spf.too_many_lookups", "error", "12 lookups")])
    with begin_write(db) as conn:
        record_audit(conn, good, T0 - timedelta(hours=2))
        record_audit(conn, broken, T0 - timedelta(hours=1))
    assert evaluate(db, config, clock).fired == 1
    clock.advance(MIN)
    evaluate(db, config, clock)  # no new audit: nothing changes
    assert kinds(db) == ["firing"]
    assert outbox(db)[0]["title"] == "[HIGH] shop.test: 12 lookups"
    with begin_write(db) as conn:
        record_audit(conn, good, T0 + 2 * MIN)
    clock.advance(2 * MIN)
    assert evaluate(db, config, clock).resolved == 1
    assert kinds(db) == ["firing", "resolved"]


def test_default_rules_run_with_no_alerting_section(db: Engine) -> None:
    clock = FakeClock(T0)
    config = Config()
    assert [r.name for r in config.alerting.active_rules()][:5] == [
        "complaint-rate",
        "complaint-rate-provider",
        "hard-bounce-rate",
        "hard-bounce-rate-provider",
        "auth-regression",
    ]
    store(db, events(T0 - 30 * MIN, delivered=20_000, complaints=100))
    result = evaluate(db, config, clock)
    assert result.errors == {}
    assert result.rules == 10
    assert result.active >= 2  # complaint rate per domain and at gmail


def test_flapping_is_damped(db: Engine) -> None:
    """A problem that comes and goes reopens the same alert and needs more clear
    evaluations each time: 8 audits alternating broken/fixed give 2 firing/resolved pairs
    where 3 would go out undamped."""
    from deliverwatch.history.store import record_audit
    from deliverwatch.store import begin_write
    from tests.history.reports import changed, finding, good_report

    clock = FakeClock(T0)
    config = make_config(rules=[{"name": "auth", "kind": "regression", "for": 0, "clear_after": 1}])
    good = good_report("shop.test")
    broken = changed(good, findings=[finding("mx.missing", "error", "no MX")])
    for report in [good, broken, good, broken, good, broken, good, good]:
        with begin_write(db) as conn:
            record_audit(conn, report, clock.now())
        evaluate(db, config, clock)
        clock.advance(timedelta(minutes=10))
    assert kinds(db) == ["firing", "resolved", "firing", "resolved"]
    with db.connect() as conn:
        (alert,) = list_alerts(conn)
    assert alert.flap_count == 1 and alert.state == "resolved"
    assert "flapping: came back 1 time(s) soon after resolving" in outbox(db)[2]["evidence"]
