"""The pure SPF parser: RFC 7208 terms, macros, CIDR lengths, record selection."""

from __future__ import annotations

import contextlib
import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deliverwatch.auth.spf import (
    Mechanism,
    Modifier,
    SpfSyntaxError,
    is_spf_record,
    parse_spf,
    spf_records,
)


def test_full_record() -> None:
    record = parse_spf(
        "v=spf1 a mx a:mail.example.com/24 mx:example.com//64 a/24//64 ptr ptr:example.com "
        "exists:%{ir}.%{l1r+-}._spf.%{d} include:_spf.example.com ip4:192.0.2.1/24 "
        "ip6:2001:db8::/32 ip6:::ffff:192.0.2.1 ~all redirect=example.net exp=explain.%{d} "
        "ra=postmaster rp=100"
    )
    m = record.mechanisms
    assert [x.name for x in m] == [
        "a", "mx", "a", "mx", "a", "ptr", "ptr", "exists", "include", "ip4", "ip6", "ip6", "all",
    ]  # fmt: skip
    assert m[0] == Mechanism("+", "a", text="a")
    assert m[2] == Mechanism("+", "a", domain="mail.example.com", cidr4=24, text=m[2].text)
    assert (m[3].domain, m[3].cidr4, m[3].cidr6) == ("example.com", None, 64)
    assert (m[4].domain, m[4].cidr4, m[4].cidr6) == (None, 24, 64)
    assert (m[5].domain, m[6].domain) == (None, "example.com")
    assert m[7].has_macros and m[7].queries_dns
    assert m[8].domain == "_spf.example.com" and not m[8].has_macros
    assert m[9].network == ipaddress.IPv4Network("192.0.2.0/24")
    assert m[10].network == ipaddress.IPv6Network("2001:db8::/32")
    assert m[11].network == ipaddress.IPv6Network("::ffff:192.0.2.1/128")
    assert not m[9].queries_dns
    assert record.all == Mechanism("~", "all", text="~all")
    assert record.redirect == Modifier("redirect", "example.net", "redirect=example.net")
    assert record.exp is not None and record.exp.has_macros
    assert [x.name for x in record.modifiers] == ["redirect", "exp", "ra", "rp"]
    assert record.effective_redirect is None  # an all anywhere makes receivers ignore it
    assert str(record) == record.text


@pytest.mark.parametrize(
    "text",
    [
        "v=spf1",
        "v=spf1 ",
        "v=spf1  -all  ",
        "V=SPF1 -ALL",
        "v=spf1 include:example.com.",
        "v=spf1 include:%{d}",
        "v=spf1 include:foo%%bar%_baz%-.example.com",
        "v=spf1 a:123.example.com",
        "v=spf1 include:xn--bcher-kva.example",
        "v=spf1 include:example.co-uk",
        "v=spf1 include:example.123a",
        "v=spf1 exists:%{I}.%{H}.%{P}.%{O}.%{S}.%{L}.%{V}.%{D}._x.example.com",
        "v=spf1 exists:%{i10r=}.example.com",
        "v=spf1 foo= -all",
        "v=spf1 x=%{c}%{r}%{t} -all",  # unknown modifiers: any macro letter
        "v=spf1 ip4:0.0.0.0/0 ip6:::/0 a/0//0 a/32//128",
        "v=spf1 REDIRECT=example.com",
        "v=spf1 v=spf1 -all",  # an unknown modifier named v
    ],
)
def test_valid_records(text: str) -> None:
    record = parse_spf(text)
    assert record.text == text


def test_qualifiers_and_case() -> None:
    record = parse_spf("v=spf1 +A -MX ~Include:example.com ?ip4:192.0.2.1 -all")
    assert [(m.qualifier, m.name) for m in record.mechanisms] == [
        ("+", "a"), ("-", "mx"), ("~", "include"), ("?", "ip4"), ("-", "all"),
    ]  # fmt: skip
    assert record.mechanisms[2].domain == "example.com"
    assert parse_spf("v=spf1 REDIRECT=Example.com").redirect == Modifier(
        "redirect", "Example.com", "REDIRECT=Example.com"
    )


def test_host_bits_in_networks_are_accepted() -> None:
    (m,) = parse_spf("v=spf1 ip4:192.0.2.77/24").mechanisms
    assert m.network == ipaddress.IPv4Network("192.0.2.0/24")


def test_evaluated_and_unreachable_mechanisms() -> None:
    record = parse_spf("v=spf1 a -all include:example.com redirect=example.net")
    assert [m.text for m in record.evaluated_mechanisms] == ["a", "-all"]
    assert [m.text for m in record.unreachable_mechanisms] == ["include:example.com"]
    assert record.effective_redirect is None
    plain = parse_spf("v=spf1 a redirect=example.net")
    assert plain.all is None
    assert plain.effective_redirect == plain.redirect


@pytest.mark.parametrize(
    ("text", "term", "reason"),
    [
        ("v=spf1 ip4:192.0.2.300 -all", "ip4:192.0.2.300", "not an IPv4 address"),
        ("v=spf1 ip4:01.2.3.4", "ip4:01.2.3.4", "not an IPv4 address"),
        ("v=spf1 ip4:2001:db8::1", "ip4:2001:db8::1", "not an IPv4 address"),
        ("v=spf1 ip4:192.0.2.0/33", "ip4:192.0.2.0/33", "bad CIDR length /33"),
        ("v=spf1 ip4:192.0.2.0/024", "ip4:192.0.2.0/024", "bad CIDR length /024"),
        ("v=spf1 ip4:192.0.2.0/", "ip4:192.0.2.0/", "bad CIDR length /"),
        ("v=spf1 ip4:1.2.3.4//64", "ip4:1.2.3.4//64", "bad CIDR length //64"),
        ("v=spf1 ip4", "ip4", "needs an address"),
        ("v=spf1 ip4:", "ip4:", "not an IPv4 address"),
        ("v=spf1 ip6:2001:db8::/129", "ip6:2001:db8::/129", "bad CIDR length /129"),
        ("v=spf1 ip6:fe80::1%eth0", "ip6:fe80::1%eth0", "not an IPv6 address"),
        ("v=spf1 ip6:192.0.2.1", "ip6:192.0.2.1", "not an IPv6 address"),
        ("v=spf1 ip6:2001:db8:::1", "ip6:2001:db8:::1", "not an IPv6 address"),
        ("v=spf1 foo:bar.com", "foo:bar.com", "unknown mechanism 'foo'"),
        ("v=spf1 *all", "*all", "unknown mechanism '*all'"),
        ("v=spf1 +", "+", "unknown mechanism '+'"),
        ("v=spf1 -all=1", "-all=1", "unknown mechanism 'all=1'"),
        ("v=spf1 include", "include", "needs a domain"),
        ("v=spf1 include:", "include:", "empty domain"),
        ("v=spf1 include:localhost", "include:localhost", "does not end in a domain label"),
        ("v=spf1 include:example.123", "include:example.123", "does not end in a domain label"),
        ("v=spf1 include:example..com", "include:example..com", "empty label"),
        ("v=spf1 include:.com", "include:.com", "empty label"),
        ("v=spf1 include:" + "a" * 64 + ".com", "include:" + "a" * 64 + ".com", "too long"),
        ("v=spf1 include:exämple.com", "include:exämple.com", "invalid character"),
        ("v=spf1 include:example.com/24", "include:example.com/24", "no CIDR length"),
        ("v=spf1 a/33", "a/33", "bad CIDR length /33"),
        ("v=spf1 a//129", "a//129", "bad CIDR length /129"),
        ("v=spf1 a/24/64", "a/24/64", "bad CIDR length"),
        ("v=spf1 a:example.com/", "a:example.com/", "does not end in a domain label"),
        ("v=spf1 a:", "a:", "empty domain"),
        ("v=spf1 mx:example.com//", "mx:example.com//", "does not end in a domain label"),
        ("v=spf1 all:example.com", "all:example.com", "all takes no argument"),
        ("v=spf1 -all/24", "-all/24", "all takes no argument"),
        ("v=spf1 ptr/24", "ptr/24", "no CIDR length"),
        ("v=spf1 exists", "exists", "needs a domain"),
        ("v=spf1 redirect=a.example redirect=b.example", "redirect=b.example", "more than once"),
        ("v=spf1 exp=a.example EXP=b.example", "EXP=b.example", "more than once"),
        ("v=spf1 redirect=", "redirect=", "empty domain"),
        ("v=spf1 include:%{x}.example.com", "include:%{x}.example.com", "unknown macro letter"),
        ("v=spf1 include:%{d0}.example.com", "include:%{d0}.example.com", "must be nonzero"),
        ("v=spf1 include:%{c}.example.com", "include:%{c}.example.com", "only allowed in exp"),
        ("v=spf1 exists:%{i", "exists:%{i", "bad macro"),
        ("v=spf1 include:50%.example.com", "include:50%.example.com", "bad macro"),
        ("v=spf1 include:%{d}.", "include:%{d}.", "does not end in a domain label"),
        ("v=spf1 foo=bar%", "foo=bar%", "bad macro"),
    ],
)
def test_syntax_errors_name_the_term(text: str, term: str, reason: str) -> None:
    with pytest.raises(SpfSyntaxError) as caught:
        parse_spf(text)
    assert caught.value.term == term
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"{term}: ")


@pytest.mark.parametrize("text", ["spf1 -all", "v=spf1\t-all", "v=spf10 -all", "", "v=spf"])
def test_not_an_spf_record(text: str) -> None:
    with pytest.raises(SpfSyntaxError, match="does not start with v=spf1"):
        parse_spf(text)


def test_record_selection() -> None:
    txt = ["hello", "v=spf10 -all", "V=SPF1 -all", "v=spf1", "v=spf1\t-all", "xv=spf1 -all"]
    assert spf_records(txt) == ["V=SPF1 -all", "v=spf1"]
    assert spf_records([]) == []
    assert is_spf_record("v=spf1 a") and not is_spf_record("v=spf1a")


# --- properties -------------------------------------------------------------------------------

FRAGMENTS = [
    "all", "+all", "-all", "~all", "?all", "a", "mx", "ptr", "include:", "exists:", "ip4:",
    "ip6:", "redirect=", "exp=", "a:", "mx:", "/", "//", ":", "=", "%", "%{", "}", "%{d}",
    "%{ir}", "%%", ".", "..", "example.com", "192.0.2.1", "2001:db8::", "24", "64", "0", "033",
    "-", "_", "é", "\x00", "\t",
]  # fmt: skip

term_text = st.lists(st.sampled_from(FRAGMENTS), min_size=1, max_size=6).map("".join)


@settings(max_examples=400)
@given(st.text(max_size=200))
def test_any_text_parses_or_raises_syntax_error(text: str) -> None:
    with contextlib.suppress(SpfSyntaxError):
        parse_spf(text)
    spf_records([text])


@settings(max_examples=400)
@given(
    st.lists(term_text | st.text(max_size=20), max_size=8), st.sampled_from(["v=spf1", "V=SpF1"])
)
def test_term_soup_parses_or_raises_syntax_error(terms: list[str], version: str) -> None:
    text = " ".join([version, *terms])
    try:
        record = parse_spf(text)
    except SpfSyntaxError as exc:
        assert exc.term == "" or exc.term in terms or any(exc.term in t for t in terms)
        return
    assert parse_spf(str(record)).terms == record.terms  # the canonical text round-trips


labels = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
domains = st.lists(labels, min_size=1, max_size=3).map(lambda ls: ".".join([*ls, "example"]))
valid_terms = st.one_of(
    st.builds(lambda q, d: f"{q}include:{d}", st.sampled_from(["", "+", "-", "~", "?"]), domains),
    st.builds(lambda d, c: f"a:{d}/{c}", domains, st.integers(0, 32)),
    st.builds(lambda c4, c6: f"mx/{c4}//{c6}", st.integers(0, 32), st.integers(0, 128)),
    st.builds(lambda ip: f"ip4:{ip}", st.ip_addresses(v=4)),
    st.builds(lambda ip, c: f"ip6:{ip}/{c}", st.ip_addresses(v=6), st.integers(0, 128)),
    st.builds(lambda d: f"exists:%{{ir}}.{d}", domains),
    st.just("ptr"),
)


@given(st.lists(valid_terms, max_size=10), st.sampled_from(["", " -all", " redirect=x.example"]))
def test_generated_valid_records_parse(terms: list[str], tail: str) -> None:
    record = parse_spf(" ".join(["v=spf1", *terms]) + tail)
    assert [t.text for t in record.terms] == [*terms, *tail.split()]
