"""DNS blocklists: query names, return-code meanings, and lookups against the real DNS server."""

from __future__ import annotations

import pytest

from deliverwatch.auth.blocklists import (
    DEFAULT_DBL_ZONES,
    DEFAULT_DNSBL_ZONES,
    BlocklistResult,
    check_blocklists,
    code_meaning,
    ip_query_name,
    list_info,
    refusal,
)
from deliverwatch.auth.findings import CATALOGUE, Severity
from deliverwatch.dns import Resolver
from tests.servers.dnsserver import DNSServer

DNSBL = "dnsbl.bl.test"
DBL = "dbl.bl.test"


def codes(result: BlocklistResult) -> list[str]:
    return [f.code for f in result.findings]


# --- pure helpers --------------------------------------------------------------------------------


def test_ip_query_names() -> None:
    assert ip_query_name("192.0.2.66", "Zen.Spamhaus.org.") == "66.2.0.192.zen.spamhaus.org"
    nibbles = "6.6.0.0." + "0." * 20 + "8.b.d.0.1.0.0.2"
    assert ip_query_name("2001:db8::66", "dnsbl.bl.test") == f"{nibbles}.dnsbl.bl.test"
    assert ip_query_name("2001:DB8:0::66", "x.test") == ip_query_name("2001:db8::66", "x.test")


def test_defaults() -> None:
    assert DEFAULT_DNSBL_ZONES == ("zen.spamhaus.org", "bl.spamcop.net", "b.barracudacentral.org")
    assert DEFAULT_DBL_ZONES == ("dbl.spamhaus.org", "multi.surbl.org")
    assert all(list_info(z) is not None for z in (*DEFAULT_DNSBL_ZONES, *DEFAULT_DBL_ZONES))


@pytest.mark.parametrize(
    ("zone", "code", "meaning"),
    [
        ("zen.spamhaus.org", "127.0.0.2", "SBL"),
        ("zen.spamhaus.org", "127.0.0.3", "CSS"),
        ("zen.spamhaus.org", "127.0.0.4", "XBL"),
        ("zen.spamhaus.org", "127.0.0.7", "XBL"),
        ("zen.spamhaus.org", "127.0.0.9", "DROP"),
        ("zen.spamhaus.org", "127.0.0.10", "PBL"),
        ("zen.spamhaus.org", "127.0.0.11", "PBL"),
        ("mykey.zen.dq.spamhaus.net", "127.0.0.2", "SBL"),  # Spamhaus DQS
        ("dbl.spamhaus.org", "127.0.1.2", "spam domain"),
        ("dbl.spamhaus.org", "127.0.1.4", "phishing"),
        ("dbl.spamhaus.org", "127.0.1.5", "malware"),
        ("dbl.spamhaus.org", "127.0.1.6", "botnet"),
        ("dbl.spamhaus.org", "127.0.1.104", "abused legitimate domain (phishing)"),
        ("bl.spamcop.net", "127.0.0.2", "spam source"),
        ("b.barracudacentral.org", "127.0.0.2", "reputation"),
        ("multi.surbl.org", "127.0.0.8", "phishing"),
        ("multi.surbl.org", "127.0.0.80", "malware, abuse (spam)"),
        ("multi.surbl.org", "127.0.0.136", "phishing, cracked site"),
        ("multi.uribl.com", "127.0.0.14", "black, grey, red"),
        ("multi.surbl.org", "127.0.0.2", "unrecognized return code"),
        ("zen.spamhaus.org", "127.0.0.99", "unrecognized return code"),
        ("dnsbl.bl.test", "127.0.0.2", "listed"),
    ],
)
def test_code_meanings(zone: str, code: str, meaning: str) -> None:
    assert meaning in code_meaning(zone, code)


def test_refusal_codes() -> None:
    assert (
        refusal("zen.spamhaus.org", "127.255.255.254") == "query through a public or open resolver"
    )
    assert "typing error" in (refusal("zen.spamhaus.org", "127.255.255.252") or "")
    assert "too many queries" in (refusal("dbl.spamhaus.org", "127.255.255.255") or "")
    assert refusal("anything.test", "127.255.255.1") == "query error"
    assert refusal("multi.uribl.com", "127.0.0.1") is not None
    assert "IP address queries" in (refusal("dbl.spamhaus.org", "127.0.1.255") or "")
    assert refusal("zen.spamhaus.org", "127.0.0.2") is None


def test_bogus_code_is_catalogued() -> None:
    assert CATALOGUE["blocklist.bogus_answer"].severity == Severity.WARNING


# --- check_blocklists against the DNS server -----------------------------------------------------


async def test_listed_ipv4_with_txt_reason(resolver: Resolver) -> None:
    result = await check_blocklists(
        "clean.test", resolver, ips=["192.0.2.66"], dnsbl_zones=[DNSBL], dbl_zones=[]
    )
    [f] = result.findings
    assert f.code == "blocklist.listed" and f.severity == Severity.ERROR
    assert "192.0.2.66" in f.message and DNSBL in f.message and "127.0.0.2" in f.message
    assert "https://dnsbl.bl.test/lookup?ip=192.0.2.66" in f.message
    assert result.to_dict() == {
        "entries": [{
            "zone": DNSBL, "kind": "ip", "subject": "192.0.2.66", "listed": True,
            "codes": ["127.0.0.2"],
            "reason": "Listed for spam, see https://dnsbl.bl.test/lookup?ip=192.0.2.66",
            "meaning": "listed",
        }],
        "status": "error",
    }  # fmt: skip


async def test_listed_ipv6(resolver: Resolver) -> None:
    result = await check_blocklists(
        "clean.test", resolver, ips=["2001:db8::66"], dnsbl_zones=[DNSBL], dbl_zones=[]
    )
    [entry] = result.entries
    assert (entry.listed, entry.codes, entry.reason) == (True, ("127.0.0.2",), None)
    assert codes(result) == ["blocklist.listed"]


async def test_several_return_codes(resolver: Resolver) -> None:
    result = await check_blocklists(
        "clean.test", resolver, ips=["192.0.2.99"], dnsbl_zones=[DNSBL], dbl_zones=[]
    )
    assert sorted(result.entries[0].codes) == ["127.0.0.10", "127.0.0.4"]


async def test_not_listed(resolver: Resolver, dns_server: DNSServer) -> None:
    before = len(dns_server.queries)
    result = await check_blocklists(
        "clean.test", resolver, ips=["192.0.2.1", "2001:db8::1"], dnsbl_zones=[DNSBL],
        dbl_zones=[DBL],
    )  # fmt: skip
    assert result.findings == [] and result.status == "ok"
    assert [(e.kind, e.subject, e.listed) for e in result.entries] == [
        ("ip", "192.0.2.1", False), ("ip", "2001:db8::1", False), ("domain", "clean.test", False)
    ]  # fmt: skip
    assert all(q[1] == "A" for q in dns_server.queries[before:])  # no TXT without a listing


async def test_listed_domain_with_reason(resolver: Resolver) -> None:
    result = await check_blocklists(
        "spammy.test", resolver, ips=[], dnsbl_zones=[], dbl_zones=[DBL]
    )
    [entry] = result.entries
    assert (entry.kind, entry.subject, entry.listed) == ("domain", "spammy.test", True)
    assert entry.codes == ("127.0.1.2",)
    assert entry.reason == "https://www.spamhaus.org/query/domain/spammy.test"
    [f] = result.findings
    assert f.code == "blocklist.listed" and "spammy.test is listed on dbl.bl.test" in f.message


async def test_subdomain_also_checks_organizational_domain(resolver: Resolver) -> None:
    result = await check_blocklists(
        "news.spammy.test", resolver, ips=[], dnsbl_zones=[], dbl_zones=[DBL]
    )
    assert [(e.subject, e.listed) for e in result.entries] == [
        ("news.spammy.test", False), ("spammy.test", True)
    ]  # fmt: skip
    assert result.status == "error"


async def test_refused_is_unknown_never_listed(resolver: Resolver) -> None:
    result = await check_blocklists(
        "clean.test", resolver, ips=["192.0.2.66"], dnsbl_zones=["refusing.bl.test"],
        dbl_zones=["uribl.bl.test"],
    )  # fmt: skip
    assert codes(result) == ["blocklist.query_refused", "blocklist.query_refused"]
    assert "127.255.255.254" in result.findings[0].message
    assert "public or open resolver" in result.findings[0].message
    assert "127.0.0.1" in result.findings[1].message
    assert [e.listed for e in result.entries] == [None, None]
    assert result.status == "unknown"


async def test_answer_outside_loopback_is_not_a_listing(resolver: Resolver) -> None:
    result = await check_blocklists(
        "clean.test", resolver, ips=["192.0.2.1"], dnsbl_zones=["bogus.bl.test"], dbl_zones=[]
    )
    assert codes(result) == ["blocklist.bogus_answer"]
    assert "192.0.2.200" in result.findings[0].message
    assert result.entries[0].listed is None and result.status == "unknown"


async def test_lookup_timeout_is_unknown(resolver: Resolver) -> None:
    result = await check_blocklists(
        "clean.test", resolver, ips=["192.0.2.66"], dnsbl_zones=["bl.timeout.test", DNSBL],
        dbl_zones=[],
    )  # fmt: skip
    assert codes(result) == ["dns.timeout", "blocklist.listed"]
    assert "192.0.2.66 on bl.timeout.test" in result.findings[0].message
    assert [e.listed for e in result.entries] == [None, True]
    assert result.status == "error"  # a known listing outranks the unknown one
    timeout_only = await check_blocklists(
        "clean.test", resolver, ips=["192.0.2.1"], dnsbl_zones=["bl.timeout.test"], dbl_zones=[]
    )
    assert timeout_only.status == "unknown"


async def test_nothing_to_check(resolver: Resolver) -> None:
    result = await check_blocklists("clean.test", resolver, ips=[], dnsbl_zones=[DNSBL],
                                    dbl_zones=[])  # fmt: skip
    assert result.to_dict() == {"entries": [], "status": "not_checked"}


async def test_invalid_ip_is_a_value_error(resolver: Resolver) -> None:
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 address"):
        await check_blocklists("clean.test", resolver, ips=["mail.example.com"],
                               dnsbl_zones=[DNSBL], dbl_zones=[])  # fmt: skip
