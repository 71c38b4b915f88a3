"""The read model over a real store (SQLite and PostgreSQL): events stored through
``insert_events``, DMARC reports through the importer, audits through the history store,
alerts through the alert engine. Figures are checked against ``store.stats`` and against
counts made by hand from the generated traffic."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from deliverwatch.clock import FakeClock
from deliverwatch.config import Config
from deliverwatch.history.store import record_audit
from deliverwatch.service import views
from deliverwatch.service.readers import AuditRecord
from deliverwatch.store import begin_write, create_engine, insert_events, stats, upgrade_to_head
from deliverwatch.store.rollups import compact
from deliverwatch.store.stats import Rate, wilson
from tests.dashboard.support import NOW, PROFILES, import_dmarc, records, to_event
from tests.servers.postgres import postgres_server  # noqa: F401  (a fixture)

CONFIG = Config.model_validate({"domains": [{"name": "shop.test"}, {"name": "quiet.test"}]})


def make_engine(request: pytest.FixtureRequest, dialect: str, folder: Path) -> Iterator[Engine]:
    """A migrated store holding ten days of traffic of :data:`PROFILES` and a week of DMARC
    reports for shop.test."""
    if dialect == "sqlite":
        made = create_engine(f"sqlite:///{folder / 'store.db'}")
        url = None
    else:
        server = request.getfixturevalue("postgres_server")
        url = server.create_schema()
        made = create_engine(url)
    upgrade_to_head(made)
    with begin_write(made) as conn:
        for profile in PROFILES:
            insert_events(conn, [to_event(item) for item in records(profile)])
    import_dmarc(made, folder / "dmarc", "shop.test")
    yield made
    made.dispose()
    if url is not None:
        request.getfixturevalue("postgres_server").drop_schema(url)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def seeded(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """Shared by the tests that only read."""
    yield from make_engine(request, request.param, tmp_path_factory.mktemp("views"))


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A store of its own, for tests that write (audits, alerts, compaction)."""
    yield from make_engine(request, request.param, tmp_path)


def report(domain: str, status: str, findings: list[dict[str, Any]]) -> dict[str, Any]:
    """An audit report as ``check --format json`` gives it (the parts the views read)."""
    sections = ("spf", "dmarc", "dkim", "bimi", "mta_sts", "tlsrpt", "mx", "blocklists")
    return {
        "domain": domain,
        "score": 80,
        "grade": "B",
        "status": status,
        "findings": findings,
        **{name: {"status": "ok"} for name in sections},
        "dmarc": {"status": "ok", "policy": "none", "record": "v=DMARC1; p=none"},
    }


def test_overview_lists_configured_and_seen_domains_worst_first(seeded: Engine) -> None:
    with seeded.connect() as conn:
        rows = views.overview(conn, CONFIG, FakeClock(NOW))
    assert [(r.domain, r.status, r.configured) for r in rows] == [
        ("billing.test", "critical", False),
        ("news.test", "critical", False),
        ("quiet.test", "unknown", True),
        ("shop.test", "ok", True),
    ]
    news = rows[1]
    assert any("complaint rate" in reason for reason in news.reasons)
    assert len(news.complaint_series.points) == views.SPARK_DAYS
    assert news.complaint_series.step == 86400
    quiet = rows[2]
    assert quiet.sent == 0 and quiet.bounce_rate is None
    assert quiet.bounce_series.values() == [None] * views.SPARK_DAYS
    json.dumps([row.to_dict() for row in rows])  # JSON-safe


def test_overview_rates_agree_with_stats_over_the_same_days(seeded: Engine) -> None:
    clock = FakeClock(NOW)
    with seeded.connect() as conn:
        rows = {r.domain: r for r in views.overview(conn, CONFIG, clock)}
        today = NOW.replace(hour=0, minute=0, second=0, microsecond=0)
        since, until = today - timedelta(days=6), today + timedelta(days=1)
        for domain in ("shop.test", "news.test", "billing.test"):
            (expected,) = stats(conn, domain=domain, since=since, until=until)
            assert rows[domain].sent == expected.sent
            assert rows[domain].bounce_rate == expected.bounce_rate.value
            assert rows[domain].complaint_rate == expected.complaint_rate.value


def hand_counts(domain: str, since: datetime, until: datetime) -> Counter[str]:
    profile = next(p for p in PROFILES if p.domain == domain)
    return Counter(
        item["type"]
        for item in records(profile)
        if since <= datetime.fromisoformat(item["timestamp"]) < until
    )


@pytest.mark.parametrize(
    ("window", "step", "points"),
    [("24h", 3600, 24), ("7d", 6 * 3600, 28), ("30d", 86400, 30), ("90d", 86400, 90)],
)
def test_domain_detail_buckets_each_window(
    seeded: Engine, window: str, step: int, points: int
) -> None:
    with seeded.connect() as conn:
        detail = views.domain_detail(conn, CONFIG, "news.test", window, FakeClock(NOW))
    assert detail.step == step
    assert detail.until - detail.since == timedelta(seconds=step * points)
    assert detail.since <= NOW < detail.until
    for name in views.RATE_NAMES:
        assert len(detail.rates[name].points) == points
    counts = hand_counts("news.test", detail.since, detail.until)
    assert detail.totals.delivered == counts["delivered"]
    assert detail.totals.complaints == counts["complained"]
    assert detail.totals.deferred == counts["deferred"]
    assert detail.deferral_rate == wilson(counts["deferred"], detail.totals.sent)
    # the buckets add up to the window
    line = detail.rates["complaint_rate"]
    assert sum(p.numerator for p in line.points) == counts["complained"]
    assert sum(p.denominator for p in line.points) == counts["delivered"]


def test_domain_detail_breaks_rates_down_by_mailbox_provider(seeded: Engine) -> None:
    with seeded.connect() as conn:
        detail = views.domain_detail(conn, CONFIG, "billing.test", "7d", FakeClock(NOW))
    names = sorted(p.mailbox_provider for p in detail.providers)
    assert names == ["gmail", "microsoft", "yahoo"]
    assert sum(p.totals.sent for p in detail.providers) == detail.totals.sent
    assert sum(p.totals.bounces for p in detail.providers) == detail.totals.bounces
    gmail = next(p for p in detail.providers if p.mailbox_provider == "gmail")
    assert gmail.series["bounce_rate"].name == "bounce_rate:gmail"
    assert detail.overview.status == "critical"
    assert detail.thresholds["complaint_rate"] == views.Threshold(0.001, 0.003)
    billing = next(p for p in PROFILES if p.domain == "billing.test")
    bounced = sum(1 for item in records(billing) if item["type"] == "bounced")
    assert detail.suppressions == {"hard_bounce": bounced}  # every one ever, not the window
    data = json.loads(json.dumps(detail.to_dict()))
    assert data["totals"]["rates"]["deferral_rate"]["value"] == detail.deferral_rate.value
    line = data["providers"][0]["series"]["complaint_rate"]
    assert len(line["values"]) == len(line["numerators"]) == len(line["denominators"]) == 28
    assert line["since"] == data["since"] and line["step"] == 6 * 3600


def test_domain_detail_reads_dmarc_sources_and_daily_pass_rates(seeded: Engine) -> None:
    with seeded.connect() as conn:
        detail = views.domain_detail(conn, CONFIG, "shop.test", "30d", FakeClock(NOW))
    panel = detail.dmarc
    spoofer = sum(40 + back for back in range(7))
    legitimate = sum(900 + back * 10 + 5 for back in range(7))
    assert panel.messages == spoofer + legitimate
    assert panel.passed == sum(900 + back * 10 for back in range(7))
    assert [s["source_ip"] for s in panel.sources] == ["192.0.2.10", "198.51.100.7"]
    assert panel.sources[1]["pass_rate"] == 0
    known = [p for p in panel.pass_series.points if p.value is not None]
    assert len(known) == 7
    assert all(0.9 < p.value < 1 for p in known if p.value is not None)
    with seeded.connect() as conn:
        other = views.domain_detail(conn, CONFIG, "news.test", "30d", FakeClock(NOW))
    assert other.dmarc.messages == 0 and other.dmarc.pass_rate is None


def test_audits_give_findings_changes_and_status(engine: Engine) -> None:
    finding = {
        "code": "dmarc.policy_none",
        "severity": "warning",
        "message": "p=none only monitors",
        "fix": "Move to p=quarantine once reports are clean.",
    }
    with begin_write(engine) as conn:
        record_audit(conn, report("shop.test", "ok", []), NOW - timedelta(hours=2))
        record_audit(conn, report("shop.test", "warning", [finding]), NOW - timedelta(hours=1))
    with engine.connect() as conn:
        rows = {r.domain: r for r in views.overview(conn, CONFIG, FakeClock(NOW))}
        detail = views.domain_detail(conn, CONFIG, "shop.test", "7d", FakeClock(NOW))
    shop = rows["shop.test"]
    assert shop.status == "warning"
    assert shop.reasons == ["the latest audit found warnings"]
    assert shop.last_audit_at == NOW - timedelta(hours=1)
    assert shop.grade == "B" and shop.score == 80
    assert detail.findings == [finding]
    assert detail.audited_at == NOW - timedelta(hours=1)
    assert len(detail.audits) == 2
    assert any(change.get("code") == "dmarc.policy_none" for change in detail.changes)


def test_alerts_count_by_severity_and_make_a_domain_critical(engine: Engine) -> None:
    from deliverwatch.alerts.engine import evaluate

    clock = FakeClock(NOW)
    evaluate(engine, CONFIG, clock)
    clock.advance(timedelta(minutes=15))
    evaluate(engine, CONFIG, clock)
    with engine.connect() as conn:
        rows = {r.domain: r for r in views.overview(conn, CONFIG, clock)}
        page = views.alerts_page(conn, clock)
        detail = views.domain_detail(conn, CONFIG, "news.test", "24h", clock)
    assert rows["news.test"].alerts == {"critical": 1}
    assert "1 critical alert(s) active" in rows["news.test"].reasons
    assert rows["shop.test"].alerts == {}
    assert {a["domain"] for a in page.active} == {"news.test", "billing.test"}
    assert [a["rule"] for a in detail.alerts] == ["complaint-rate"]
    json.dumps(page.to_dict())


def test_windows_past_compacted_rollups_widen_their_step(engine: Engine) -> None:
    with begin_write(engine) as conn:
        compact(conn, now=NOW, minute_rollup_days=1, hour_rollup_days=2)
    with engine.connect() as conn:
        week = views.domain_detail(conn, CONFIG, "news.test", "7d", FakeClock(NOW))
        day = views.domain_detail(conn, CONFIG, "news.test", "24h", FakeClock(NOW))
    assert week.step == 86400  # hour rollups are gone for most of the week
    counts = hand_counts("news.test", week.since, week.until)
    assert week.totals.delivered == counts["delivered"]
    assert day.step == 3600  # the last day still has hours


def test_unknown_window_is_refused(seeded: Engine) -> None:
    with seeded.connect() as conn, pytest.raises(ValueError, match="window must be one of"):
        views.domain_detail(conn, CONFIG, "shop.test", "1y", FakeClock(NOW))


# -- judge (pure) ---------------------------------------------------------------------------


def rates(sent: int, bounces: int = 0, complaints: int = 0) -> dict[str, Rate]:
    return {
        "bounce_rate": wilson(bounces, sent),
        "hard_bounce_rate": wilson(bounces, sent),
        "complaint_rate": wilson(complaints, sent - bounces),
    }


def audit(status: str) -> AuditRecord:
    return AuditRecord("a.test", datetime(2026, 1, 1, tzinfo=UTC), status, {})


def test_judge_needs_volume_before_a_rate_counts() -> None:
    limits = views.DEFAULT_THRESHOLDS
    assert views.judge(rates(50, complaints=5), 50, audit("ok"), {}, limits)[0] == "ok"
    status, reasons = views.judge(rates(1000, complaints=5), 1000, audit("ok"), {}, limits)
    assert status == "critical"
    assert reasons == ["complaint rate 0.50% ≥ 0.30%"]
    status, _ = views.judge(rates(1000, complaints=2), 1000, audit("ok"), {}, limits)
    assert status == "warning"


def test_judge_weighs_alerts_audits_and_missing_data() -> None:
    limits = views.DEFAULT_THRESHOLDS
    none = rates(0)
    assert views.judge(none, 0, None, {}, limits) == ("unknown", ["no audit and no mail seen yet"])
    assert views.judge(none, 0, audit("unknown"), {}, limits)[0] == "unknown"
    assert views.judge(none, 0, audit("error"), {}, limits)[0] == "critical"
    assert views.judge(rates(500), 500, None, {"warning": 2}, limits) == (
        "warning",
        ["2 warning alert(s) active"],
    )
    assert views.judge(rates(500), 500, audit("unknown"), {"high": 1}, limits)[0] == "critical"
    assert views.judge(rates(500), 500, None, {"info": 3}, limits)[0] == "ok"


def test_thresholds_come_from_alerting_rate_rules() -> None:
    config = Config.model_validate(
        {
            "alerting": {
                "rules": [
                    {
                        "name": "complaint-rate",
                        "kind": "rate",
                        "metric": "complaint_rate",
                        "thresholds": {"warning": 0.0005, "high": 0.002},
                    }
                ]
            }
        }
    )
    limits = views.thresholds_for(config)
    assert limits["complaint_rate"] == views.Threshold(0.0005, 0.002)
    assert limits["hard_bounce_rate"] == views.Threshold(0.02, 0.05)  # a default rule
    assert limits["deferral_rate"] == views.DEFAULT_THRESHOLDS["deferral_rate"]


def test_chart_tallies_count_as_stats_does(seeded: Engine) -> None:
    """The per-bucket tallies behind chart points add up to what ``stats`` counts."""
    from deliverwatch.store.series import align, combine, esp_tallies

    buckets = align(NOW, 7 * 86400, 6 * 3600)
    since = datetime.fromtimestamp(buckets.since, UTC)
    until = datetime.fromtimestamp(buckets.until, UTC)
    with seeded.connect() as conn:
        tallies = esp_tallies(conn, buckets, by="mailbox-provider")
        for domain in ("shop.test", "billing.test"):
            (expected,) = stats(conn, domain=domain, since=since, until=until)
            parts = [
                part for (d, _), per in tallies.items() if d == domain for part in per.values()
            ]
            total = combine(parts)
            for name in ("sent", "delivered", "bounces", "hard_bounces", "deferred", "complaints"):
                assert getattr(total, name) == getattr(expected, name), name
            assert total.unique_opens == expected.unique_opens
            assert total.rate("complaint_rate")[0] == expected.complaint_rate.value


def test_closed_days_are_cached_and_today_is_read_every_time(engine: Engine) -> None:
    from deliverwatch.store.series import align

    cache = views.ClosedDays(ttl=3600)
    buckets = align(NOW, views.SPARK_DAYS * 86400, 86400)
    with engine.connect() as conn:
        before = cache.tallies(conn, buckets)
    late = [
        {
            "event_id": f"late-{n}",
            "type": "sent",
            "timestamp": (NOW - timedelta(days=back)).isoformat(),
            "recipient": f"late{n}@gmail.com",
            "sending_domain": "shop.test",
            "message_id": f"<late{n}@shop.test>",
        }
        for n, back in enumerate((0, 0, 2))
    ]
    with begin_write(engine) as conn:
        insert_events(conn, [to_event(item) for item in late])
    with engine.connect() as conn:
        after = cache.tallies(conn, buckets)
        fresh = views.ClosedDays(ttl=0).tallies(conn, buckets)
    today = buckets.until - 86400
    two_days_ago = today - 2 * 86400

    def sent(tallies: Any, start: int) -> int:
        return sum(values[0] for values in tallies[("shop.test", None)][start].values())

    assert sent(after, today) == sent(before, today) + 2  # today: read again
    assert sent(after, two_days_ago) == sent(before, two_days_ago)  # closed: cached
    assert sent(fresh, two_days_ago) == sent(before, two_days_ago) + 1
