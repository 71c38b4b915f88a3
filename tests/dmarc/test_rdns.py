"""Reverse DNS of report sources, against the test DNS server: forward confirmation, failed
lookups kept apart from missing records, and the lookup limit."""

from __future__ import annotations

from deliverwatch.dmarc.esp import Esp
from deliverwatch.dmarc.rdns import SourceName, lookup_sources
from deliverwatch.dns import Resolver

TEST_ESP = (Esp("Test ESP", ("esp.dmarcsrc.test",)),)


async def test_lookup_sources(resolver: Resolver) -> None:
    ips = [f"203.0.113.{n}" for n in (1, 2, 3, 4, 5, 6)]
    names = await lookup_sources(resolver, ips, esps=TEST_ESP)
    assert names == {
        "203.0.113.1": SourceName(
            "203.0.113.1", "ok", "mail1.senders.dmarcsrc.test", True, "dmarcsrc.test", None
        ),
        "203.0.113.2": SourceName(
            "203.0.113.2", "ok", "o2.relay.esp.dmarcsrc.test", True, "dmarcsrc.test", "Test ESP"
        ),
        "203.0.113.3": SourceName(
            "203.0.113.3", "ok", "liar.esp.dmarcsrc.test", False, "dmarcsrc.test", None
        ),
        "203.0.113.4": SourceName("203.0.113.4", "none"),
        "203.0.113.5": SourceName("203.0.113.5", "failed"),
        "203.0.113.6": SourceName(
            "203.0.113.6", "ok", "mail6.senders.dmarcsrc.test", True, "dmarcsrc.test", None
        ),
    }


async def test_limit_and_cache(resolver: Resolver) -> None:
    names = await lookup_sources(resolver, ["203.0.113.1", "203.0.113.2", "203.0.113.1"], limit=1)
    assert names["203.0.113.1"].status == "ok"
    assert names["203.0.113.2"] == SourceName("203.0.113.2", "skipped")
    queries = resolver.stats.queries
    again = await lookup_sources(resolver, ["203.0.113.1"])
    assert again["203.0.113.1"] == names["203.0.113.1"]
    assert resolver.stats.queries == queries  # answered from the resolver's cache
