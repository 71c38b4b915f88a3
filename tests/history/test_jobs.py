"""The audit job against a real DNS server whose zone changes between audits, stored on SQLite
and PostgreSQL: changes found, DNS failures never stored as removals, scores recorded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dns.name
import dns.rdatatype
from sqlalchemy.engine import Engine

from deliverwatch.clock import FakeClock
from deliverwatch.config import Config
from deliverwatch.history import audit_history, latest_scores, score_history
from deliverwatch.history.jobs import audit_domains, check_blocklists
from deliverwatch.history.store import StoredAudit
from tests.history.conftest import ZONE_V1, ZONE_V2, zone_data
from tests.servers.dnsserver import DNSServer, ZoneData

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def config_for(server: DNSServer) -> Config:
    return Config.model_validate(
        {
            "dns": {"nameservers": [server.address], "timeout": 0.3, "retries": 1},
            "http": {"enabled": False},
            "blocklists": {"dnsbl": [], "dbl": ["dbl.bl.test"]},
            "check": {"common_selectors": False},
            "domains": [{"name": "history.test", "dkim_selectors": ["s1"]}],
        }
    )


def fields(audit: StoredAudit) -> dict[tuple[str, str], tuple[str, str]]:
    return {(c.section, c.field): (c.kind, c.severity_hint) for c in audit.changes}


async def test_audits_are_stored_with_what_changed(history_dns: DNSServer, engine: Engine) -> None:
    config, clock = config_for(history_dns), FakeClock(T0)
    (first,) = await audit_domains(config, engine, clock)
    assert (first.domain, first.status, first.changes) == ("history.test", "ok", [])
    assert first.report["dmarc"]["policy"] == "reject"

    # The operator edits the zone, and the domain gets on a blocklist.
    data = zone_data(ZONE_V2)
    data.add("history.test.dbl.bl.test", "A", "127.0.1.2")
    history_dns.data = data
    clock.advance(timedelta(hours=1))
    (second,) = await audit_domains(config, engine, clock)
    seen = fields(second)
    assert seen[("spf", "record")] == ("changed", "neutral")
    assert seen[("dmarc", "p")] == ("changed", "worse")
    assert seen[("dkim", "selector:s1:key_bits")] == ("changed", "worse")
    assert seen[("tlsrpt", "record")] == ("removed", "worse")
    assert seen[("mx", "host:mx2.history.test")] == ("added", "neutral")
    assert seen[("blocklists", "dbl.bl.test:history.test")] == ("added", "worse")
    assert seen[("findings", "dmarc.policy_none")][1] == "worse"
    p = next(c for c in second.changes if c.field == "p")
    assert p.message == "DMARC policy weakened from reject to none"

    with engine.connect() as conn:
        history = audit_history(conn, "history.test")
        scores = latest_scores(conn)
        series = score_history(conn, "history.test", T0)
    assert [a.id for a in history] == [second.id, first.id]
    assert history[0].changes == second.changes
    score = scores["history.test"]
    assert score.at == T0 + timedelta(hours=1)
    assert series[0][1].deliverability > score.deliverability  # type: ignore[operator]
    blocklist_part = next(p for p in score.parts if p.name == "blocklists")
    assert blocklist_part.score == 40 and "history.test on dbl.bl.test" in blocklist_part.detail
    # no events or DMARC reports stored: those parts say so instead of counting
    assert {p.name for p in score.parts if not p.has_data} == {
        "complaints",
        "bounces",
        "dmarc",
        "engagement",
    }


async def test_dns_failure_is_never_stored_as_removed(
    history_dns: DNSServer, engine: Engine
) -> None:
    config, clock = config_for(history_dns), FakeClock(T0)
    await audit_domains(config, engine, clock)

    history_dns.behave("_dmarc.history.test", "servfail")
    history_dns.behave("s1._domainkey.history.test", "drop")
    clock.advance(timedelta(hours=1))
    (outage,) = await audit_domains(config, engine, clock)
    assert outage.status == "unknown"
    assert outage.report["dmarc"]["status"] == "unknown"
    assert sorted((c.kind, c.section) for c in outage.changes) == [
        ("unknown", "dkim"),
        ("unknown", "dmarc"),
    ]
    assert not any(c.severity_hint == "worse" for c in outage.changes)

    clock.advance(timedelta(hours=1))
    (still,) = await audit_domains(config, engine, clock)
    assert still.changes == []

    # DNS answers again, with DMARC weakened meanwhile: compared with the last known state.
    history_dns.behave("_dmarc.history.test", "answer")
    history_dns.behave("s1._domainkey.history.test", "answer")
    history_dns.data = _replace_txt(
        zone_data(ZONE_V1), "_dmarc.history.test", '"v=DMARC1; p=quarantine"'
    )
    clock.advance(timedelta(hours=1))
    (back,) = await audit_domains(config, engine, clock)
    assert back.status != "unknown"
    seen = fields(back)
    assert seen[("dmarc", "p")] == ("changed", "worse")
    assert ("dkim", "selector:s1") not in seen  # the key never went away


def _replace_txt(data: ZoneData, name: str, value: str) -> ZoneData:
    """``data`` with the TXT records at ``name`` replaced by ``value``."""
    owner = dns.name.from_text(name)
    del data.rrsets[(owner, dns.rdatatype.TXT)]
    del data.rrsets_by_text[(name, dns.rdatatype.TXT)]
    data.add(name, "TXT", value)
    return data


async def test_blocklist_recheck_stores_only_listing_changes(
    history_dns: DNSServer, engine: Engine
) -> None:
    config, clock = config_for(history_dns), FakeClock(T0)
    assert await check_blocklists(config, engine, clock) == {
        "domains": 0,
        "changed": 0,
        "listed": 0,
    }  # never audited: left to the audit job
    (first,) = await audit_domains(config, engine, clock)
    clock.advance(timedelta(minutes=15))
    assert await check_blocklists(config, engine, clock) == {
        "domains": 1,
        "changed": 0,
        "listed": 0,
    }
    data = zone_data(ZONE_V1)
    data.add("history.test.dbl.bl.test", "A", "127.0.1.2")
    history_dns.data = data
    clock.advance(timedelta(minutes=15))
    assert await check_blocklists(config, engine, clock) == {
        "domains": 1,
        "changed": 1,
        "listed": 1,
    }
    with engine.connect() as conn:
        latest, previous = audit_history(conn, "history.test", limit=2)
    assert previous.id == first.id
    assert [(c.section, c.kind, c.severity_hint) for c in latest.changes] == [
        ("blocklists", "added", "worse"),
        ("findings", "added", "worse"),
    ]
    assert latest.report["rechecked"] == ["blocklists"]
    assert latest.report["dmarc"] == first.report["dmarc"]
    assert latest.score < first.score and latest.status == "error"
    assert any(f["code"] == "blocklist.listed" for f in latest.report["findings"])
