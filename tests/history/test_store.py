"""Audits and scores in the store, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from deliverwatch.clock import FakeClock
from deliverwatch.dmarc.aggregate import AggregateReader
from deliverwatch.events.model import BounceClass
from deliverwatch.history import (
    ScoreInputs,
    audit_history,
    compute_score,
    gather_inputs,
    get_audit,
    latest_audits,
    latest_scores,
    prune_audits,
    record_audit,
    record_score,
    score_history,
)
from deliverwatch.store import begin_write, insert_events
from deliverwatch.store.dmarc import store_aggregate
from deliverwatch.store.schema import audits, scores
from tests.dmarc.support import report_xml
from tests.history.reports import changed, finding, good_report, unknown
from tests.store.factory import event

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)


def test_first_audit_has_no_changes_and_the_next_one_does(conn: Connection) -> None:
    first = record_audit(conn, good_report(), T0)
    assert first.changes == [] and first.domain == "shop.test"
    assert (first.status, first.score, first.grade) == ("ok", 100, "A")
    weaker = changed(
        good_report(),
        dmarc={"policy": "none"},
        findings=[finding("dmarc.policy_none", "warning", "p=none")],
        status="warning",
        score=80,
        grade="B",
    )
    second = record_audit(conn, weaker, T0 + HOUR)
    assert {(c.section, c.field, c.severity_hint) for c in second.changes} == {
        ("dmarc", "p", "worse"),
        ("findings", "dmarc.policy_none", "worse"),
    }
    assert (second.warnings, second.errors, second.infos) == (1, 0, 0)
    assert second.regressions == second.changes
    again = get_audit(conn, second.id)
    assert again == second
    assert again is not None and again.checked_at == T0 + HOUR
    data = second.to_dict()
    assert data["checked_at"] == "2026-11-01T13:00:00Z"
    assert data["findings"] == {"error": 0, "warning": 1, "info": 0}
    assert data["changes"][0]["severity_hint"] == "worse"
    assert data["report"]["dmarc"]["policy"] == "none"
    assert "report" not in second.to_dict(include_report=False)


def test_dns_failure_is_stored_as_unknown_once_and_changes_during_it_are_seen(
    conn: Connection,
) -> None:
    record_audit(conn, good_report(), T0)
    outage = record_audit(conn, unknown(good_report(), "dmarc"), T0 + HOUR)
    assert [(c.kind, c.section) for c in outage.changes] == [("unknown", "dmarc")]
    still = record_audit(conn, unknown(good_report(), "dmarc"), T0 + 2 * HOUR)
    assert still.changes == []  # reported once, not at every audit
    back = record_audit(conn, changed(good_report(), dmarc={"policy": "quarantine"}), T0 + 3 * HOUR)
    assert [(c.section, c.field, c.before, c.after) for c in back.changes] == [
        ("dmarc", "p", "reject", "quarantine")
    ]  # compared with the last audit that could read DMARC, not with the outage


def test_latest_and_history(conn: Connection) -> None:
    for i in range(5):
        record_audit(conn, changed(good_report(), score=100 - i), T0 + i * HOUR)
    record_audit(conn, good_report("other.test"), T0)
    latest = latest_audits(conn)
    assert set(latest) == {"shop.test", "other.test"}
    assert latest["shop.test"].score == 96 and latest["shop.test"].checked_at == T0 + 4 * HOUR
    assert set(latest_audits(conn, ["OTHER.test."])) == {"other.test"}
    history = audit_history(conn, "shop.test", limit=3)
    assert [a.score for a in history] == [96, 97, 98]
    assert [a.score for a in audit_history(conn, "shop.test", since=T0 + 3 * HOUR)] == [96, 97]
    assert audit_history(conn, "nobody.test") == []


def test_prune_keeps_the_latest_of_each_domain(conn: Connection) -> None:
    for i in range(3):
        stored = record_audit(conn, good_report(), T0 + i * timedelta(days=10))
        record_score(conn, compute_score(_inputs(stored.report, T0 + i * timedelta(days=10))))
    old = record_audit(conn, good_report("gone.test"), T0)
    pruned = prune_audits(conn, 5, now=T0 + timedelta(days=30))
    assert (pruned.audits, pruned.scores) == (2, 2)
    assert [a.checked_at for a in audit_history(conn, "shop.test")] == [T0 + timedelta(days=20)]
    assert [a.id for a in audit_history(conn, "gone.test")] == [old.id]
    assert conn.execute(sa.select(sa.func.count()).select_from(scores)).scalar_one() == 1


def _inputs(report: dict[str, Any], at: datetime) -> ScoreInputs:
    return ScoreInputs(domain="shop.test", at=at, audit=report)


def test_scores_latest_and_history(conn: Connection) -> None:
    low = changed(good_report(), score=50, grade="F")
    first = compute_score(_inputs(low, T0))
    second = compute_score(_inputs(good_report(), T0 + HOUR))
    record_score(conn, first)
    audit = record_audit(conn, good_report(), T0 + HOUR)
    row_id = record_score(conn, second, audit_id=audit.id)
    assert conn.execute(sa.select(scores.c.audit_id).where(scores.c.id == row_id)).scalar_one() == (
        audit.id
    )
    latest = latest_scores(conn)
    assert latest["shop.test"].to_dict() == second.to_dict()
    series = score_history(conn, "shop.test", T0 - HOUR)
    assert [(at, s.deliverability) for at, s in series] == [
        (T0, first.deliverability),
        (T0 + HOUR, second.deliverability),
    ]
    assert score_history(conn, "shop.test", T0 + HOUR / 2) == [(T0 + HOUR, series[1][1])]
    assert series[0][1].parts == first.parts


def test_gather_inputs_reads_stats_and_dmarc(engine: Engine) -> None:
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    clock = FakeClock(now)
    recent, older = now - timedelta(days=2), now - timedelta(days=20)
    evs = [event("delivered", recent, domain="shop.test") for _ in range(40)]
    evs += [event("bounced", recent, domain="shop.test", bounce_class=BounceClass.HARD)]
    evs += [event("complained", recent, domain="shop.test")]
    evs += [event("delivered", older, domain="shop.test") for _ in range(60)]
    evs += [event("delivered", recent, domain="other.test") for _ in range(7)]
    day = int((now - timedelta(days=3)).timestamp()) // 86_400 * 86_400
    xml = report_xml(
        [
            {"ip": "192.0.2.1", "count": 90},
            {"ip": "192.0.2.1", "count": 10, "dkim": "fail", "spf": "fail"},
            {"ip": "203.0.113.9", "count": 25, "dkim": "fail", "spf": "fail"},
        ],
        domain="shop.test",
        begin=day,
        end=day + 86_399,
    )
    with begin_write(engine) as conn:
        insert_events(conn, evs)
        store_aggregate(conn, AggregateReader(io.BytesIO(xml)), source="t.xml")
    with engine.connect() as conn:
        inputs = gather_inputs(conn, "shop.test", good_report(), clock)
    assert inputs.at == now and inputs.audit == good_report()
    assert inputs.sending_7d is not None and inputs.sending_30d is not None
    assert (inputs.sending_7d.delivered, inputs.sending_7d.hard_bounces) == (40, 1)
    assert inputs.sending_7d.complaints == 1 and inputs.sending_7d.sent == 41
    assert inputs.sending_30d.delivered == 100
    assert inputs.dmarc is not None
    assert (inputs.dmarc.messages, inputs.dmarc.passed) == (125, 90)
    assert (inputs.dmarc.legitimate_messages, inputs.dmarc.legitimate_passed) == (100, 90)
    assert (inputs.dmarc.failing_sources, inputs.dmarc.failing_messages) == (1, 25)
    with engine.connect() as conn:
        empty = gather_inputs(conn, "quiet.test", None, clock)
    assert (empty.sending_7d, empty.sending_30d, empty.dmarc) == (None, None, None)
    assert compute_score(empty).deliverability is None


def test_tables_hold_the_summary_columns(conn: Connection) -> None:
    record_audit(conn, changed(good_report(), findings=[finding("mx.null_mx", "info")]), T0)
    row = conn.execute(sa.select(audits)).one()
    assert (row.domain, row.status, row.infos) == ("shop.test", "ok", 1)
    assert row.report["domain"] == "shop.test" and row.changes == []
