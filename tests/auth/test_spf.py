"""The SPF audit against the real test DNS server (tests/zones/spf.test.zone)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from deliverwatch.auth.spf import EVALUATION_CAP, SpfNode, SpfResult, check_spf
from deliverwatch.dns import Resolver
from tests.servers.dnsserver import ZONES_DIR, DNSServer, load_zones


async def audit(resolver: Resolver, name: str) -> SpfResult:
    result = await check_spf(f"{name}.spf.test", resolver)
    json.dumps(result.to_dict())  # every section must be JSON-safe
    return result


def codes(result: SpfResult) -> list[str]:
    return [f.code for f in result.findings]


def message(result: SpfResult, code: str) -> str:
    (only,) = [f.message for f in result.findings if f.code == code]
    return only


def asked(server: DNSServer, name: str, rtype: str = "TXT") -> int:
    return sum(1 for q in server.queries if q[:2] == (name, rtype))


def shape(node: dict[str, Any]) -> tuple[Any, ...]:
    """(domain, via, lookups, total_lookups, children) of a to_dict() tree, recursively."""
    children = tuple(shape(child) for child in node["children"])
    return (node["domain"], node["via"], node["lookups"], node["total_lookups"], children)


# --- lookup counting --------------------------------------------------------------------------


async def test_exactly_ten_lookups_through_includes_and_redirect_is_fine(
    resolver: Resolver, dns_server: DNSServer
) -> None:
    before = asked(dns_server, "l2.ten.spf.test")
    result = await audit(resolver, "ten")
    assert result.dns_lookups == 10
    assert result.void_lookups == 0
    assert result.findings == []
    assert result.status == "ok"
    assert result.complete
    l2 = ("l2.ten.spf.test", "include", 1, 1, ())
    tree = result.to_dict()["tree"]
    assert shape(tree) == (
        "ten.spf.test", "root", 4, 10, (
            ("l1.ten.spf.test", "include", 2, 3, (l2,)),
            ("r.ten.spf.test", "redirect", 2, 3, (l2,)),
        ),
    )  # fmt: skip
    assert tree["record"] == "v=spf1 a mx include:l1.ten.spf.test redirect=r.ten.spf.test"
    assert "error" not in tree
    # l2 is evaluated twice (a receiver would query it twice) but fetched once
    assert asked(dns_server, "l2.ten.spf.test") - before == 1
    assert result.to_dict() == {
        "record": tree["record"],
        "dns_lookups": 10,
        "void_lookups": 0,
        "tree": tree,
        "status": "ok",
    }


async def test_eleven_lookups_is_an_error_with_a_breakdown(resolver: Resolver) -> None:
    result = await audit(resolver, "eleven")
    assert result.dns_lookups == 11
    assert codes(result) == ["spf.too_many_lookups"]
    assert result.status == "error"
    assert message(result, "spf.too_many_lookups") == (
        "SPF for eleven.spf.test needs 11 DNS lookups; the limit is 10 (a 1, mx 1, "
        "a:host.spf.test 1, include:l1.ten.spf.test 4, redirect=r.ten.spf.test 4)"
    )
    assert result.tree is not None
    assert (result.tree.lookups, result.tree.total_lookups) == (5, 11)


async def test_a_tree_far_over_the_limit_is_cut_at_the_cap(
    resolver: Resolver, dns_server: DNSServer
) -> None:
    before = asked(dns_server, "w3.wide.spf.test")
    result = await audit(resolver, "wide")
    assert result.dns_lookups == 5 + 25 + 125  # every term is counted ...
    assert not result.complete  # ... but past the cap none is resolved
    assert codes(result) == ["spf.too_many_lookups"]
    assert "needs at least 155 DNS lookups" in message(result, "spf.too_many_lookups")
    assert result.tree is not None
    leaves = [n for n in result.tree.walk() if n.domain == "w3.wide.spf.test"]
    skipped = [n for n in leaves if n.error and n.error.startswith("not evaluated")]
    assert (len(leaves), len(skipped)) == (125, 125 - (EVALUATION_CAP - 30))
    assert asked(dns_server, "w3.wide.spf.test") - before == 1


async def test_ptr_counts_but_is_not_resolved(resolver: Resolver, dns_server: DNSServer) -> None:
    before = sum(1 for q in dns_server.queries if q[1] == "PTR")
    result = await audit(resolver, "ptr")
    assert (result.dns_lookups, codes(result), result.status) == (
        1,
        ["spf.ptr_mechanism"],
        "warning",
    )
    assert message(result, "spf.ptr_mechanism") == "The SPF record of ptr.spf.test uses ptr"
    nested = await audit(resolver, "ptr-in-include")
    assert nested.dns_lookups == 2
    assert message(nested, "spf.ptr_mechanism") == (
        "The SPF record of ptr.spf.test (reached through include:ptr.spf.test) uses ptr"
    )
    assert sum(1 for q in dns_server.queries if q[1] == "PTR") == before


async def test_macros_are_counted_not_resolved(resolver: Resolver, dns_server: DNSServer) -> None:
    result = await audit(resolver, "macro")
    assert result.dns_lookups == 3
    assert (result.void_lookups, result.findings, result.status) == (0, [], "ok")
    assert result.tree is not None
    (child,) = result.tree.children
    assert child.domain == "%{ir}.%{v}._spf.spf.test"
    assert child.note is not None and "macros" in child.note
    assert child.to_dict()["note"] == child.note
    assert child.record is None and child.error is None
    assert not [q for q in dns_server.queries if "%" in q[0]]


async def test_terms_after_all_are_not_evaluated(resolver: Resolver) -> None:
    result = await audit(resolver, "dead-terms")
    assert result.dns_lookups == 0
    assert result.tree is not None and result.tree.children == []
    assert codes(result) == ["spf.terms_after_all"]
    assert message(result, "spf.terms_after_all") == (
        "The SPF record of dead-terms.spf.test has 'include:minus-all.spf.test a' after -all: "
        "receivers never evaluate them"
    )


# --- void lookups -----------------------------------------------------------------------------


async def test_two_void_lookups_are_fine(resolver: Resolver) -> None:
    result = await audit(resolver, "void2")  # a:nx1 (NXDOMAIN), mx:nospf (NODATA), a:v6only
    assert (result.dns_lookups, result.void_lookups) == (3, 2)
    assert result.findings == []
    assert result.status == "ok"


async def test_three_void_lookups_are_too_many(resolver: Resolver) -> None:
    result = await audit(resolver, "void3")
    assert (result.dns_lookups, result.void_lookups) == (3, 3)
    assert codes(result) == ["spf.void_lookups"]
    assert result.status == "warning"
    assert message(result, "spf.void_lookups") == (
        "3 SPF lookups find no records; the limit is 2: a:nx1.spf.test in void3.spf.test, "
        "exists:nx3.spf.test in void3.spf.test, mx:nospf.spf.test in void3.spf.test"
    )


@pytest.mark.parametrize(
    ("name", "target", "voids", "why"),
    [
        ("include-void", "nx4.spf.test", 1, "the name does not exist"),
        ("include-nodata", "host.spf.test", 1, "it has no TXT records"),
        ("include-notspf", "nospf.spf.test", 0, "none of its TXT records starts with v=spf1"),
    ],
)
async def test_include_without_spf_is_missing(
    resolver: Resolver, name: str, target: str, voids: int, why: str
) -> None:
    result = await audit(resolver, name)
    assert codes(result) == ["spf.include_missing"]
    assert result.status == "error"
    assert (result.dns_lookups, result.void_lookups) == (1, voids)
    assert message(result, "spf.include_missing") == (
        f"include:{target} in the SPF record of {name}.spf.test: {target} has no SPF record ({why})"
    )
    assert result.tree is not None
    assert result.tree.children[0].error == "no SPF record"


# --- loops, failures --------------------------------------------------------------------------


async def test_include_loop_is_reported_and_not_followed(resolver: Resolver) -> None:
    result = await audit(resolver, "loop-a")
    assert codes(result) == ["spf.include_loop"]
    assert result.dns_lookups == 2
    assert message(result, "spf.include_loop") == (
        "include:loop-a.spf.test in the SPF record of loop-b.spf.test leads back to a record "
        "being evaluated (loop-a.spf.test → loop-b.spf.test → loop-a.spf.test)"
    )
    assert result.tree is not None
    (b,) = result.tree.children
    (back,) = b.children
    assert (back.domain, back.record, back.children) == ("loop-a.spf.test", None, [])
    assert back.error == "loop: loop-a.spf.test is already being evaluated"


async def test_redirect_to_itself_is_a_loop(resolver: Resolver) -> None:
    result = await audit(resolver, "loop-self")
    assert codes(result) == ["spf.include_loop"]  # and no spf.no_all: the redirect is the policy
    assert result.dns_lookups == 1


async def test_include_that_times_out_is_unknown_not_missing(resolver: Resolver) -> None:
    result = await audit(resolver, "include-timeout")
    assert codes(result) == ["dns.timeout"]
    assert "include:x.timeout.test" in result.findings[0].message
    assert result.status == "unknown"
    assert (result.dns_lookups, result.void_lookups, result.complete) == (1, 0, False)
    assert result.tree is not None
    assert result.tree.children[0].error == "lookup failed: timeout"


async def test_redirect_that_times_out_is_unknown_without_no_all(resolver: Resolver) -> None:
    result = await audit(resolver, "redirect-timeout")
    assert codes(result) == ["dns.timeout"]
    assert result.status == "unknown"


async def test_failed_address_lookups_are_unknown_not_void(resolver: Resolver) -> None:
    result = await audit(resolver, "a-servfail")  # a:x.servfail.test mx:x.refused.test
    assert codes(result) == ["dns.refused", "dns.servfail"]  # one finding per name
    assert (result.dns_lookups, result.void_lookups, result.status) == (2, 0, "unknown")
    hosts = await audit(resolver, "mx-badhost")
    assert codes(hosts) == ["dns.servfail"]
    assert "MX host h.servfail.test" in hosts.findings[0].message
    assert hosts.status == "unknown"


async def test_top_level_timeout_is_unknown_not_missing(resolver: Resolver) -> None:
    result = await check_spf("x.timeout.test", resolver)
    assert codes(result) == ["dns.timeout"]
    assert (result.record, result.tree, result.status) == (None, None, "unknown")
    assert result.to_dict()["tree"] is None


# --- record selection and syntax --------------------------------------------------------------


async def test_missing_record(resolver: Resolver) -> None:
    absent = await audit(resolver, "absent")
    assert codes(absent) == ["spf.missing"]
    assert message(absent, "spf.missing") == (
        "absent.spf.test has no SPF record: the name does not exist"
    )
    assert (absent.record, absent.tree, absent.status) == (None, None, "error")
    other = await audit(resolver, "nospf")  # "v=spf10 -all" and "hello" are not SPF records
    assert message(other, "spf.missing") == (
        "nospf.spf.test has no SPF record: none of its TXT records starts with v=spf1"
    )


async def test_multiple_records(resolver: Resolver) -> None:
    result = await audit(resolver, "two")
    assert codes(result) == ["spf.multiple_records"]
    assert (result.record, result.tree, result.status) == (None, None, "error")
    assert "2 SPF records" in result.findings[0].message
    nested = await audit(resolver, "include-two")
    assert codes(nested) == ["spf.multiple_records"]
    assert message(nested, "spf.multiple_records").startswith(
        "include:two.spf.test in the SPF record of include-two.spf.test:"
    )


async def test_other_txt_records_and_case_and_cname(resolver: Resolver) -> None:
    plain = await audit(resolver, "minus-all")  # has a verification TXT record next to it
    assert (plain.record, plain.findings, plain.status) == (
        "v=spf1 ip4:192.0.2.0/24 -all",
        [],
        "ok",
    )
    upper = await audit(resolver, "upper")
    assert (upper.findings, upper.status) == ([], "ok")
    cname = await audit(resolver, "include-cname")
    assert (cname.dns_lookups, cname.findings) == (1, [])
    assert cname.tree is not None
    assert cname.tree.children[0].record == "v=spf1 ip4:192.0.2.0/24 -all"


async def test_syntax_error_at_top_level(resolver: Resolver) -> None:
    result = await audit(resolver, "bad-syntax")
    assert codes(result) == ["spf.syntax_error"]
    assert message(result, "spf.syntax_error") == (
        "The SPF record of bad-syntax.spf.test does not parse: "
        "ip4:192.0.2.300: '192.0.2.300' is not an IPv4 address"
    )
    assert result.record == "v=spf1 ip4:192.0.2.300 -all"
    assert result.parsed is None
    assert result.tree is not None and result.tree.error is not None
    assert result.tree.error.startswith("syntax error: ip4:192.0.2.300")
    assert (result.dns_lookups, result.status) == (0, "error")


async def test_syntax_error_inside_an_include_names_the_include(resolver: Resolver) -> None:
    result = await audit(resolver, "include-bad")
    assert codes(result) == ["spf.syntax_error"]
    assert message(result, "spf.syntax_error") == (
        "The SPF record of bad-syntax.spf.test (include:bad-syntax.spf.test in the SPF record of "
        "include-bad.spf.test) does not parse: ip4:192.0.2.300: '192.0.2.300' is not an IPv4 "
        "address"
    )
    assert result.dns_lookups == 1


# --- all, redirect ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected", "status", "text"),
    [
        ("minus-all", [], "ok", None),
        ("soft-all", ["spf.softfail_all"], "ok",
         "The SPF record of soft-all.spf.test ends in ~all"),
        ("plus-all", ["spf.permissive_all"], "error",
         "The SPF record of plus-all.spf.test has +all: every sender passes"),
        ("bare-all", ["spf.permissive_all"], "error",
         "The SPF record of bare-all.spf.test has all (the same as +all): every sender passes"),
        ("neutral-all", ["spf.permissive_all"], "error",
         "The SPF record of neutral-all.spf.test has ?all: unlisted senders get neutral, "
         "as if there were no SPF"),
        ("no-all", ["spf.no_all"], "warning",
         "The SPF record of no-all.spf.test has neither an all mechanism nor a redirect=: "
         "unlisted senders get neutral"),
    ],
)  # fmt: skip
async def test_all_qualifiers(
    resolver: Resolver, name: str, expected: list[str], status: str, text: str | None
) -> None:
    result = await audit(resolver, name)
    assert codes(result) == expected
    assert result.status == status
    if text is not None:
        assert result.findings[0].message == text


async def test_neutral_all_anywhere_in_the_record(resolver: Resolver) -> None:
    result = await audit(resolver, "neutral-first")  # v=spf1 ?all ip4:192.0.2.1 -all
    assert codes(result) == ["spf.permissive_all", "spf.terms_after_all"]
    assert "has ?all" in message(result, "spf.permissive_all")


@pytest.mark.parametrize(
    ("name", "expected", "lookups", "voids", "status"),
    [
        ("redirect", ["spf.softfail_all"], 1, 0, "ok"),
        ("redirect-missing", ["spf.include_missing"], 1, 1, "error"),
        ("redirect-noall", ["spf.no_all"], 1, 0, "warning"),
        ("redirect-all", ["spf.redirect_with_all"], 0, 0, "warning"),
        ("redirect-plus", ["spf.permissive_all"], 1, 0, "error"),
    ],
)
async def test_redirect(
    resolver: Resolver, name: str, expected: list[str], lookups: int, voids: int, status: str
) -> None:
    result = await audit(resolver, name)
    assert codes(result) == expected
    assert (result.dns_lookups, result.void_lookups, result.status) == (lookups, voids, status)


async def test_redirect_findings_name_the_redirect(resolver: Resolver) -> None:
    soft = await audit(resolver, "redirect")
    assert soft.findings[0].message == (
        "The SPF record of soft-all.spf.test (reached through redirect=soft-all.spf.test) ends "
        "in ~all"
    )
    missing = await audit(resolver, "redirect-missing")
    assert missing.findings[0].message == (
        "redirect=nx5.spf.test in the SPF record of redirect-missing.spf.test: nx5.spf.test has "
        "no SPF record (the name does not exist)"
    )
    ignored = await audit(resolver, "redirect-all")
    assert ignored.findings[0].message == (
        "The SPF record of redirect-all.spf.test has both -all and redirect=minus-all.spf.test: "
        "receivers ignore the redirect"
    )
    assert ignored.tree is not None and ignored.tree.children == []
    assert soft.tree is not None
    assert [c.via for c in soft.tree.children] == ["redirect"]


@pytest.mark.parametrize(
    ("name", "expected", "lookups"),
    [
        ("include-plus", ["spf.permissive_all"], 1),
        ("include-deep-plus", ["spf.permissive_all"], 2),
        ("include-fail-plus", [], 1),  # -include: of a +all record fails everyone: not permissive
    ],
)
async def test_include_of_a_record_that_passes_everything(
    resolver: Resolver, name: str, expected: list[str], lookups: int
) -> None:
    result = await audit(resolver, name)
    assert (codes(result), result.dns_lookups) == (expected, lookups)


async def test_include_plus_all_message(resolver: Resolver) -> None:
    result = await audit(resolver, "include-plus")
    assert result.findings[0].message == (
        "include:plus-all.spf.test in the SPF record of include-plus.spf.test authorizes every "
        "sender: the SPF record of plus-all.spf.test passes any address"
    )


# --- mx, length, sharing, speed ---------------------------------------------------------------


async def test_mx_with_ten_hosts_is_fine_and_hosts_are_resolved(
    resolver: Resolver, dns_server: DNSServer
) -> None:
    before = asked(dns_server, "m10.mxhosts.spf.test", "A")
    result = await audit(resolver, "mx10")
    assert (result.dns_lookups, result.void_lookups, result.findings) == (1, 0, [])
    assert asked(dns_server, "m10.mxhosts.spf.test", "A") - before == 1


async def test_mx_with_eleven_hosts_is_a_permerror(
    resolver: Resolver, dns_server: DNSServer
) -> None:
    before = asked(dns_server, "m11.mxhosts.spf.test", "A")
    result = await audit(resolver, "mx11")
    assert codes(result) == ["spf.too_many_mx"]
    assert message(result, "spf.too_many_mx") == (
        "mx in the SPF record of mx11.spf.test: mx11.spf.test has 11 MX hosts; more than 10 is a "
        "permerror"
    )
    assert (result.dns_lookups, result.status) == (1, "error")
    assert asked(dns_server, "m11.mxhosts.spf.test", "A") == before  # not resolved


async def test_record_length(resolver: Resolver) -> None:
    fits = await audit(resolver, "len450")  # five character-strings, joined
    assert fits.record is not None and len(fits.record) == 450
    assert (fits.findings, fits.status) == ([], "ok")
    long = await audit(resolver, "len451")
    assert codes(long) == ["spf.record_too_long"]
    assert message(long, "spf.record_too_long") == (
        "The SPF record of len451.spf.test is 451 bytes; above 450 the DNS answer may not fit in "
        "512 bytes"
    )


async def test_shared_include_is_fetched_once(resolver: Resolver, dns_server: DNSServer) -> None:
    before = asked(dns_server, "_spf.shared.spf.test")
    a, b = await asyncio.gather(audit(resolver, "shared-a"), audit(resolver, "shared-b"))
    c = await audit(resolver, "shared-a")
    assert asked(dns_server, "_spf.shared.spf.test") - before == 1
    assert (a.dns_lookups, b.dns_lookups, c.dns_lookups) == (1, 1, 1)
    assert codes(a) == [] and codes(b) == ["spf.softfail_all"]
    assert a.to_dict() == c.to_dict()


async def test_levels_are_fetched_concurrently() -> None:
    """ten.spf.test needs 12 queries; fetched level by level they take 3 round trips."""
    server = DNSServer(load_zones([ZONES_DIR / "spf.test.zone"]), lockstep=0.1).start()
    try:
        result = await check_spf("ten.spf.test", Resolver([server.address], timeout=5.0))
    finally:
        server.stop()
    assert (result.dns_lookups, result.findings) == (10, [])
    assert len(server.queries) == 12
    assert server.round_trips <= 4, "lookups of one level are not sent together"


def test_node_totals_are_computed() -> None:
    leaf = SpfNode("b.example", "include", "include:b.example", lookups=2)
    root = SpfNode("a.example", lookups=3, children=[leaf])
    assert (root.total_lookups, [n.domain for n in root.walk()]) == (5, ["a.example", "b.example"])
    assert root.redirect_target is None
