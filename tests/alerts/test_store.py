"""The alert store on SQLite and PostgreSQL: queries, actions, silences, and one engine
cycle through the grouped rate queries on both dialects."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from deliverwatch.alerts.engine import evaluate
from deliverwatch.alerts.model import Alert
from deliverwatch.alerts.store import (
    acknowledge,
    add_silence,
    alert_transitions_of,
    get_alert,
    list_alerts,
    list_silences,
    remove_silence,
    resolve,
    save_alert,
)
from deliverwatch.clock import FakeClock
from deliverwatch.store import begin_write
from deliverwatch.store.schema import alert_notices
from tests.alerts.conftest import T0, complaint_rule, events, make_config, outbox, store

MIN = timedelta(minutes=1)


def new_alert(state: str = "firing", domain: str = "shop.test", subject: str = "x") -> Alert:
    return Alert(
        id=None,
        fingerprint=f"fp-{domain}-{subject}",
        rule="complaints",
        kind="rate",
        domain=domain,
        provider="",
        subject=subject,
        severity="high",
        state=state,  # type: ignore[arg-type]
        summary="s",
        evidence=["e1", "e2"],
        details={"causes": ["c"], "actions": ["a"], "values": {"z": 4.5}},
        started_at=T0,
        last_evaluated_at=T0,
        fired_at=T0 if state == "firing" else None,
    )


def test_save_list_get_round_trip(any_db: Engine) -> None:
    with begin_write(any_db) as conn:
        first = save_alert(conn, new_alert())
        save_alert(conn, new_alert("pending", domain="other.test"))
    with any_db.connect() as conn:
        assert [a.domain for a in list_alerts(conn, state="firing")] == ["shop.test"]
        assert len(list_alerts(conn, state="open")) == 2
        assert [a.state for a in list_alerts(conn, domain="OTHER.test.")] == ["pending"]
        got = get_alert(conn, first.id or 0)
        assert get_alert(conn, 999_999) is None
    assert got is not None
    data = got.to_dict()
    assert data["started_at"] == "2026-03-04T10:00:00Z"
    assert data["evidence"] == ["e1", "e2"] and data["values"] == {"z": 4.5}
    assert {
        "id",
        "fingerprint",
        "rule",
        "kind",
        "domain",
        "provider",
        "severity",
        "state",
        "summary",
        "evidence",
        "started_at",
        "fired_at",
        "resolved_at",
        "acknowledged_at",
        "acknowledged_by",
    } <= set(data)


def test_one_open_alert_per_fingerprint(any_db: Engine) -> None:
    with begin_write(any_db) as conn:
        save_alert(conn, new_alert())
    with pytest.raises(IntegrityError), begin_write(any_db) as conn:
        save_alert(conn, new_alert())
    resolved = new_alert()
    resolved.state = "resolved"
    with begin_write(any_db) as conn:  # resolved ones are history: any number
        save_alert(conn, resolved)


def test_acknowledge_and_resolve(any_db: Engine) -> None:
    clock = FakeClock(T0)
    with begin_write(any_db) as conn:
        alert = save_alert(conn, new_alert())
    assert acknowledge(any_db, 424242, "alice", clock) is None
    clock.advance(MIN)
    acked = acknowledge(any_db, alert.id or 0, "alice", clock)
    assert acked is not None and acked.acknowledged_at == T0 + MIN
    clock.advance(MIN)
    again = acknowledge(any_db, alert.id or 0, "bob", clock)
    assert again is not None and again.acknowledged_by == "alice"
    done = resolve(any_db, alert.id or 0, "carol", clock)
    assert done is not None and done.state == "resolved" and done.resolved_by == "carol"
    with pytest.raises(ValueError):
        resolve(any_db, alert.id or 0, "carol", clock)
    with pytest.raises(ValueError):
        acknowledge(any_db, alert.id or 0, "carol", clock)
    with any_db.connect() as conn:
        events = [(t.event, t.actor) for t in alert_transitions_of(conn, alert.id or 0)]
        notices = conn.execute(sa.select(alert_notices.c.kind)).scalars().all()
    assert events == [("acknowledged", "alice"), ("resolved", "carol")]
    assert sorted(notices) == ["acknowledged", "resolved"]


def test_silences(any_db: Engine) -> None:
    clock = FakeClock(T0)
    silence = add_silence(
        any_db, {"domain": "shop.test"}, T0 + timedelta(hours=2), "bob", "deploy", clock
    )
    later = add_silence(any_db, {"rule": "x*"}, T0 + timedelta(hours=1), "bob", "", clock)
    with pytest.raises(ValueError):
        add_silence(any_db, {"colour": "red"}, T0 + timedelta(hours=1), "bob", "", clock)
    with pytest.raises(ValueError):
        add_silence(any_db, {"domain": "a"}, T0, "bob", "", clock)
    with any_db.connect() as conn:
        assert [s.id for s in list_silences(conn, now=T0)] == [later.id, silence.id]
        assert [s.id for s in list_silences(conn, now=T0 + timedelta(minutes=90))] == [silence.id]
    assert remove_silence(any_db, silence.id, clock)
    assert not remove_silence(any_db, silence.id, clock)
    with any_db.connect() as conn:
        assert [s.id for s in list_silences(conn, now=T0)] == [later.id]
        every = list_silences(conn, active_only=False)
    assert len(every) == 2
    assert every[1].to_dict()["removed_at"] == "2026-03-04T10:00:00Z"


def test_an_evaluation_cycle_on_both_dialects(any_db: Engine) -> None:
    clock = FakeClock(T0)
    config = make_config(
        rules=[
            complaint_rule(**{"for": 0}),
            complaint_rule(name="per-mbp", per="mailbox_provider", **{"for": 0}),
        ]
    )
    store(any_db, events(T0 - 30 * MIN, delivered=5000, complaints=40, mailbox_provider="gmail"))
    store(any_db, events(T0 - 30 * MIN, delivered=5000, mailbox_provider="yahoo"))
    result = evaluate(any_db, config, clock)
    assert (result.fired, result.notifications) == (2, 1)  # grouped: one domain
    with any_db.connect() as conn:
        alerts = list_alerts(conn, state="firing")
    assert sorted((a.rule, a.provider) for a in alerts) == [
        ("complaints", ""),
        ("per-mbp", "gmail"),
    ]
    clock.set(T0 + 61 * MIN)
    evaluate(any_db, config, clock)
    clock.advance(MIN)
    assert evaluate(any_db, config, clock).resolved == 2
    assert [r["kind"] for r in outbox(any_db)] == ["firing", "resolved"]
