"""DMARC: the pure parser, and check_dmarc against the real test DNS server.

Zones: tests/zones/dmarc.test.zone (policies), reports.test.zone (external report
destinations), nodmarc.test.zone (no record), dmarcfail.test.zone (the org lookup fails).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deliverwatch.auth.dmarc import (
    DmarcResult,
    DmarcSyntaxError,
    check_dmarc,
    is_dmarc_record,
    parse_dmarc,
    parse_report_uri,
)
from deliverwatch.dns import Resolver
from tests.servers.dnsserver import ZONES_DIR, DNSServer, load_zones

AGG = "rua=mailto:agg@dmarc.test"


def codes(result: DmarcResult) -> list[str]:
    return [f.code for f in result.findings]


# --- parser ----------------------------------------------------------------------------------


def test_parse_full_record() -> None:
    record = parse_dmarc(
        "v=DMARC1; p=reject; sp=quarantine; np=none; pct=40; rua=mailto:a@x.test!10m,"
        "mailto:b@y.test; ruf=mailto:f@x.test; adkim=s; aspf=s; fo=1:d; rf=afrf; ri=3600; "
        "t=y; psd=n"
    )
    assert (record.policy, record.subdomain_policy, record.non_existent_policy) == (
        "reject",
        "quarantine",
        "none",
    )
    assert (record.pct, record.adkim, record.aspf, record.ri) == (40, "s", "s", 3600)
    assert record.fo == ("1", "d") and record.rf == ("afrf",)
    assert record.testing is True and record.psd == "n"
    assert [u.address for u in record.rua] == ["a@x.test", "b@y.test"]
    assert record.rua[0].max_size == 10 * 2**20 and record.rua[1].max_size is None
    assert record.ruf[0].domain == "x.test"
    assert record.unknown_tags == ()


def test_parse_defaults() -> None:
    record = parse_dmarc("v=DMARC1; p=quarantine")
    assert record.subdomain_policy is None and record.effective_subdomain_policy == "quarantine"
    assert record.effective_non_existent_policy == "quarantine"
    assert (record.pct, record.adkim, record.aspf, record.ri) == (100, "r", "r", 86400)
    assert (record.fo, record.rf, record.testing, record.psd) == (("0",), ("afrf",), False, "u")
    assert record.rua == () and record.ruf == ()


def test_np_defaults_to_sp() -> None:
    record = parse_dmarc("v=DMARC1; p=reject; sp=none")
    assert record.effective_non_existent_policy == "none"


def test_names_and_keywords_are_case_insensitive_and_spaces_allowed() -> None:
    record = parse_dmarc("  v = DMARC1 ;P = Reject;  ADKIM=S ; ;  Rua = MAILTO:X@Example.TEST ;")
    assert (record.policy, record.adkim) == ("reject", "s")
    assert record.rua[0].address == "X@example.test"
    assert record.tags == {"p": "Reject", "adkim": "S", "rua": "MAILTO:X@Example.TEST"}


@pytest.mark.parametrize(
    "text",
    ["p=reject; v=DMARC1", "", "v=DMARC2; p=reject", "v=dmarc1; p=reject", "v=DMARC1 p=none"],
)
def test_version_must_come_first_and_exactly(text: str) -> None:
    with pytest.raises(DmarcSyntaxError) as exc:
        parse_dmarc(text)
    assert exc.value.tag == "v"
    assert exc.value.fallback is None


@pytest.mark.parametrize(
    ("tag", "value"),
    [
        ("adkim", "x"),
        ("aspf", "relaxed"),
        ("pct", "101"),
        ("pct", "-1"),
        ("pct", "50.5"),
        ("pct", ""),
        ("fo", "2"),
        ("fo", "1:x"),
        ("ri", "4294967296"),
        ("ri", "1h"),
        ("t", "yes"),
        ("psd", "maybe"),
        ("np", "block"),
        ("rf", "a fr"),
    ],
)
def test_invalid_values_fall_back_to_defaults(tag: str, value: str) -> None:
    with pytest.raises(DmarcSyntaxError) as exc:
        parse_dmarc(f"v=DMARC1; p=reject; {tag}={value}")
    assert exc.value.tag == tag
    assert tag in str(exc.value)
    fallback = exc.value.fallback
    assert fallback is not None and fallback.policy == "reject"  # §6.3: the default is used
    assert fallback.tags[tag] == value


@pytest.mark.parametrize(("pct", "ok"), [("0", True), ("100", True), ("050", True), ("101", False)])
def test_pct_bounds(pct: str, ok: bool) -> None:
    text = f"v=DMARC1; p=reject; pct={pct}"
    if ok:
        assert parse_dmarc(text).pct == int(pct)
    else:
        with pytest.raises(DmarcSyntaxError):
            parse_dmarc(text)


def test_ri_accepts_the_32_bit_maximum() -> None:
    assert parse_dmarc("v=DMARC1; p=none; ri=4294967295").ri == 2**32 - 1


@pytest.mark.parametrize(
    ("tag", "text"),
    [("p", f"v=DMARC1; p=block; {AGG}"), ("sp", f"v=DMARC1; p=reject; {AGG}; sp=block")],
)
def test_invalid_policy_with_valid_rua_acts_as_p_none(tag: str, text: str) -> None:
    """RFC 7489 §6.6.3 step 6.1."""
    with pytest.raises(DmarcSyntaxError) as exc:
        parse_dmarc(text)
    assert exc.value.tag == tag
    assert exc.value.fallback is not None
    assert exc.value.fallback.policy == "none"
    assert exc.value.fallback.subdomain_policy is None
    assert "as if p=none" in str(exc.value)


def test_missing_p_with_valid_rua_acts_as_p_none() -> None:
    with pytest.raises(DmarcSyntaxError) as exc:
        parse_dmarc(f"v=DMARC1; {AGG}")
    assert exc.value.tag == "p" and "missing" in str(exc.value)
    assert exc.value.fallback is not None and exc.value.fallback.policy == "none"


@pytest.mark.parametrize(
    "text",
    ["v=DMARC1", "v=DMARC1; p=block", "v=DMARC1; sp=none", "v=DMARC1; rua=https://x.test/r"],
)
def test_invalid_policy_without_valid_rua_voids_the_record(text: str) -> None:
    """RFC 7489 §6.6.3 step 6.2: no DMARC processing."""
    with pytest.raises(DmarcSyntaxError) as exc:
        parse_dmarc(text)
    assert exc.value.tag == "p"
    assert exc.value.fallback is None
    assert "ignore the record" in str(exc.value)


@pytest.mark.parametrize("text", ["v=DMARC1; p=reject; p=none", "v=DMARC1; p=none; v=DMARC1"])
def test_duplicate_tags_void_the_record(text: str) -> None:
    with pytest.raises(DmarcSyntaxError) as exc:
        parse_dmarc(text)
    assert "more than once" in str(exc.value)
    assert exc.value.fallback is None


def test_malformed_part_is_ignored_but_reported() -> None:
    with pytest.raises(DmarcSyntaxError) as exc:
        parse_dmarc("v=DMARC1; p=reject; strict")
    assert exc.value.tag is None and "'strict'" in str(exc.value)
    assert exc.value.fallback is not None and exc.value.fallback.policy == "reject"


def test_unknown_tags_are_ignored_but_recorded() -> None:
    record = parse_dmarc("v=DMARC1; p=none; rue=mailto:a@x.test; x_custom=1")
    assert record.unknown_tags == ("rue", "x_custom")
    assert record.tags["rue"] == "mailto:a@x.test"
    assert record.rua == ()


@pytest.mark.parametrize(
    ("text", "address", "size"),
    [
        ("mailto:a@x.test", "a@x.test", None),
        ("MAILTO:a@X.Test", "a@x.test", None),
        ("mailto:a@x.test!500", "a@x.test", 500),
        ("mailto:a@x.test!10k", "a@x.test", 10240),
        ("mailto:a@x.test!2G", "a@x.test", 2 * 2**30),
        ("mailto:dmarc%2Breports@x.test", "dmarc+reports@x.test", None),
        ("mailto:a@x.test?subject=dmarc", "a@x.test", None),
    ],
)
def test_report_uris(text: str, address: str, size: int | None) -> None:
    uri = parse_report_uri(text)
    assert uri.valid, uri.error
    assert (uri.address, uri.max_size, uri.text) == (address, size, text)


@pytest.mark.parametrize(
    "text",
    [
        "https://x.test/report",
        "a@x.test",
        "mailto:",
        "mailto:a@",
        "mailto:@x.test",
        "mailto:a@localhost",
        "mailto:a@-x.test",
        "mailto:a@x.test!",
        "mailto:a@x.test!10x",
        "mailto:a b@x.test",
    ],
)
def test_invalid_report_uris(text: str) -> None:
    uri = parse_report_uri(text)
    assert not uri.valid and uri.error and uri.address is None


def test_invalid_uris_do_not_make_the_record_invalid() -> None:
    record = parse_dmarc("v=DMARC1; p=reject; rua=https://x.test/r, mailto:a@x.test,")
    assert [u.valid for u in record.rua] == [False, True]


def test_is_dmarc_record() -> None:
    assert is_dmarc_record("v=DMARC1; p=none")
    assert is_dmarc_record(" V = dmarc1 p=none")  # near-miss: reported as a syntax error
    assert not is_dmarc_record("v=DMARC10; p=none")
    assert not is_dmarc_record("v=spf1 -all")
    assert not is_dmarc_record("google-site-verification=x")


TAG_VALUES = st.sampled_from(
    ["none", "quarantine", "reject", "r", "s", "y", "n", "u", "0", "1", "d", "100", "50",
     "4294967296", "afrf", "mailto:a@x.test", "mailto:a@x.test!10m", "https://x", "", "="]
)  # fmt: skip
TAG_NAMES = st.sampled_from(sorted({"v", "p", "sp", "np", "pct", "rua", "ruf", "adkim", "aspf",
                                    "fo", "rf", "ri", "t", "psd", "x", "P", ""}))  # fmt: skip


@settings(max_examples=400)
@given(st.text())
def test_parser_only_raises_its_syntax_error_on_any_text(text: str) -> None:
    try:
        parse_dmarc(text)
    except DmarcSyntaxError as exc:
        assert exc.problems


@settings(max_examples=400)
@given(
    st.lists(st.tuples(TAG_NAMES, TAG_VALUES | st.text(max_size=20)), max_size=8),
    st.sampled_from([";", "; ", " ;", ";;"]),
)
def test_parser_only_raises_its_syntax_error_on_record_like_text(
    tags: list[tuple[str, str]], separator: str
) -> None:
    text = separator.join(["v=DMARC1", *(f"{name}={value}" for name, value in tags)])
    try:
        record = parse_dmarc(text)
    except DmarcSyntaxError as exc:
        assert exc.problems
        record_or_none = exc.fallback
    else:
        record_or_none = record
    if record_or_none is not None:
        assert record_or_none.policy in ("none", "quarantine", "reject")
        assert 0 <= record_or_none.pct <= 100


@given(st.text())
def test_report_uri_parser_never_raises(text: str) -> None:
    uri = parse_report_uri(text)
    assert uri.valid == (uri.address is not None)


# --- check_dmarc: policies -------------------------------------------------------------------

RESULT_KEYS = {
    "record", "location", "org_domain", "inherited", "policy", "subdomain_policy",
    "non_existent_policy", "effective_policy", "pct", "rua", "ruf", "adkim", "aspf", "testing",
    "tags", "rua_authorization", "status",
}  # fmt: skip


async def test_reject_policy_is_clean_and_enforcing(resolver: Resolver) -> None:
    result = await check_dmarc("Reject.DMARC.test.", resolver)
    assert result.findings == []
    assert result.status == "ok"
    assert result.enforcing and result.enforcing_known is True
    data = result.to_dict()
    assert set(data) == RESULT_KEYS
    assert data["record"] == "v=DMARC1; p=reject; rua=mailto:agg@dmarc.test"
    assert data["location"] == "_dmarc.reject.dmarc.test"
    assert (data["org_domain"], data["inherited"], data["policy"]) == (
        "dmarc.test",
        False,
        "reject",
    )
    assert data["rua"] == ["mailto:agg@dmarc.test"] and data["ruf"] == []
    assert data["tags"] == {"p": "reject", "rua": "mailto:agg@dmarc.test"}


async def test_full_record_to_dict(resolver: Resolver) -> None:
    data = (await check_dmarc("full.dmarc.test", resolver)).to_dict()
    assert (data["policy"], data["subdomain_policy"], data["non_existent_policy"]) == (
        "reject",
        "quarantine",
        "reject",
    )
    assert (data["pct"], data["adkim"], data["aspf"], data["testing"]) == (100, "s", "r", False)
    assert data["rua"] == ["mailto:agg@dmarc.test!10m"]
    assert data["ruf"] == ["mailto:forensic@dmarc.test"]
    assert data["tags"]["fo"] == "1:d" and data["tags"]["ri"] == "3600"
    assert data["status"] == "ok"


async def test_policy_none(resolver: Resolver) -> None:
    result = await check_dmarc("none.dmarc.test", resolver)
    assert codes(result) == ["dmarc.policy_none"]
    assert result.status == "warning"
    assert result.policy == "none" and not result.enforcing


async def test_pct_100_is_enforcing_and_pct_50_is_partial(resolver: Resolver) -> None:
    full = await check_dmarc("pct100.dmarc.test", resolver)
    half = await check_dmarc("pct50.dmarc.test", resolver)
    assert full.findings == [] and full.pct == 100 and full.enforcing
    assert codes(half) == ["dmarc.pct_partial"]
    assert "pct=50" in half.findings[0].message
    assert half.pct == 50 and not half.enforcing
    assert half.to_dict()["pct"] == 50


async def test_sp_none(resolver: Resolver) -> None:
    result = await check_dmarc("spnone.dmarc.test", resolver)
    assert codes(result) == ["dmarc.subdomain_policy_none"]
    assert result.findings[0].severity == "info"
    assert result.status == "ok" and result.enforcing
    assert result.to_dict()["subdomain_policy"] == "none"


async def test_np_none(resolver: Resolver) -> None:
    result = await check_dmarc("npnone.dmarc.test", resolver)
    assert codes(result) == ["dmarc.subdomain_policy_none"]
    assert "np=none" in result.findings[0].message
    data = result.to_dict()
    assert (data["subdomain_policy"], data["non_existent_policy"]) == ("reject", "none")


async def test_testing_flag(resolver: Resolver) -> None:
    reject = await check_dmarc("testing.dmarc.test", resolver)
    quarantine = await check_dmarc("testingq.dmarc.test", resolver)
    assert codes(reject) == ["dmarc.testing"] and codes(quarantine) == ["dmarc.testing"]
    assert reject.to_dict()["testing"] is True
    # t=y: receivers apply one level lower, so reject still quarantines; quarantine does not
    assert reject.enforcing and not quarantine.enforcing


async def test_psd_flag_is_recorded(resolver: Resolver) -> None:
    result = await check_dmarc("psd.dmarc.test", resolver)
    assert result.findings == []
    assert result.parsed is not None and result.parsed.psd == "y"
    assert result.to_dict()["tags"]["psd"] == "y"


async def test_no_rua(resolver: Resolver) -> None:
    result = await check_dmarc("norua.dmarc.test", resolver)
    assert codes(result) == ["dmarc.no_rua"]
    assert result.to_dict()["rua_authorization"] == []


async def test_unknown_tag(resolver: Resolver) -> None:
    result = await check_dmarc("unknowntag.dmarc.test", resolver)
    assert codes(result) == ["dmarc.unknown_tag"]
    assert "rue=" in result.findings[0].message


async def test_split_txt_strings_are_joined(resolver: Resolver) -> None:
    result = await check_dmarc("split.dmarc.test", resolver)
    assert result.record == "v=DMARC1; p=reject; rua=mailto:agg@dmarc.test"
    assert result.findings == []


# --- check_dmarc: discovery ------------------------------------------------------------------


async def test_subdomain_inherits_the_organizational_record(resolver: Resolver) -> None:
    result = await check_dmarc("mail.sub.dmarc.test", resolver)
    data = result.to_dict()
    assert data["location"] == "_dmarc.dmarc.test"
    assert data["inherited"] is True and data["org_domain"] == "dmarc.test"
    assert codes(result) == ["dmarc.psd_subdomain"]
    assert result.findings[0].severity == "info"
    # the organizational domain's sp= is what applies to the subdomain
    assert (data["policy"], data["effective_policy"]) == ("reject", "quarantine")
    assert result.enforcing
    assert data["status"] == "ok"


async def test_subdomain_with_its_own_record(resolver: Resolver) -> None:
    result = await check_dmarc("own.sub.dmarc.test", resolver)
    assert result.location == "_dmarc.own.sub.dmarc.test"
    assert result.inherited is False
    assert codes(result) == ["dmarc.policy_none"]


async def test_non_dmarc_txt_is_discarded_and_the_org_record_applies(resolver: Resolver) -> None:
    result = await check_dmarc("other.dmarc.test", resolver)
    assert result.location == "_dmarc.dmarc.test" and result.inherited


async def test_organizational_domain_is_not_looked_up_twice(resolver: Resolver) -> None:
    result = await check_dmarc("dmarc.test", resolver)
    assert result.location == "_dmarc.dmarc.test" and not result.inherited
    assert resolver.stats.queries == 1


async def test_cname_at_dmarc_is_followed(resolver: Resolver) -> None:
    result = await check_dmarc("alias.dmarc.test", resolver)
    assert result.location == "_dmarc.alias.dmarc.test"
    assert result.policy == "reject" and result.findings == []


async def test_missing(resolver: Resolver) -> None:
    result = await check_dmarc("nodmarc.test", resolver)
    assert codes(result) == ["dmarc.missing"]
    assert result.status == "error"
    assert result.policy is None and result.pct == 100 and not result.enforcing
    assert result.enforcing_known is False
    data = result.to_dict()
    assert data["record"] is None and data["location"] is None and data["policy"] is None


async def test_missing_names_both_lookups_and_ignored_records(resolver: Resolver) -> None:
    result = await check_dmarc("www.nodmarc.test", resolver)
    assert codes(result) == ["dmarc.missing"]
    message = result.findings[0].message
    assert "_dmarc.www.nodmarc.test or _dmarc.nodmarc.test" in message
    assert "v=DMARC2" in message


async def test_multiple_records(resolver: Resolver) -> None:
    result = await check_dmarc("multi.dmarc.test", resolver)
    assert codes(result) == ["dmarc.multiple_records"]
    assert result.status == "error"
    assert result.policy is None and result.record is None
    assert result.location == "_dmarc.multi.dmarc.test"


# --- check_dmarc: syntax errors --------------------------------------------------------------


async def test_invalid_policy_with_rua_is_audited_as_p_none(resolver: Resolver) -> None:
    result = await check_dmarc("badpolicy.dmarc.test", resolver)
    assert codes(result) == ["dmarc.syntax_error", "dmarc.policy_none"]
    assert "p='block'" in result.findings[0].message
    assert result.status == "error"
    assert result.policy == "none"
    assert result.to_dict()["tags"]["p"] == "block"


@pytest.mark.parametrize(
    ("domain", "bad"),
    [("void", "p="), ("dup", "p="), ("badv", "v="), ("badsep", "v="), ("badsp", "sp=")],
)
async def test_records_receivers_ignore(resolver: Resolver, domain: str, bad: str) -> None:
    result = await check_dmarc(f"{domain}.dmarc.test", resolver)
    assert codes(result) == ["dmarc.syntax_error"]
    assert bad in result.findings[0].message
    assert "ignore the record" in result.findings[0].message
    assert result.status == "error"
    assert result.record is not None and result.policy is None and not result.enforcing


async def test_bad_optional_tags_keep_the_policy(resolver: Resolver) -> None:
    result = await check_dmarc("badtags.dmarc.test", resolver)
    assert codes(result) == ["dmarc.syntax_error", "dmarc.syntax_error"]
    messages = " ".join(f.message for f in result.findings)
    assert "adkim='x'" in messages and "pct='150'" in messages
    assert result.policy == "reject" and result.pct == 100
    assert result.to_dict()["adkim"] == "r"


async def test_invalid_uris(resolver: Resolver) -> None:
    result = await check_dmarc("invaliduri.dmarc.test", resolver)
    assert codes(result) == ["dmarc.invalid_uri", "dmarc.invalid_uri"]
    assert "https://dmarc.test/report" in result.findings[0].message
    assert "!big" in result.findings[1].message
    assert [a["uri"] for a in result.to_dict()["rua_authorization"]] == ["mailto:agg@dmarc.test"]


async def test_only_invalid_uris_means_no_rua(resolver: Resolver) -> None:
    result = await check_dmarc("onlybaduri.dmarc.test", resolver)
    assert codes(result) == ["dmarc.invalid_uri", "dmarc.no_rua"]


# --- check_dmarc: external report destinations -----------------------------------------------


async def test_same_organization_needs_no_authorization(
    resolver: Resolver, dns_server: DNSServer
) -> None:
    result = await check_dmarc("reject.dmarc.test", resolver)
    assert result.to_dict()["rua_authorization"] == [
        {"uri": "mailto:agg@dmarc.test", "domain": "dmarc.test", "external": False,
         "authorized": True}
    ]  # fmt: skip
    assert resolver.stats.queries == 2  # _dmarc.reject.dmarc.test and _dmarc.dmarc.test only
    assert not any(q[0].startswith("reject.dmarc.test._report") for q in dns_server.queries)


async def test_external_destination_authorized_explicitly(resolver: Resolver) -> None:
    result = await check_dmarc("ext-authz.dmarc.test", resolver)
    assert result.findings == []
    assert result.to_dict()["rua_authorization"] == [
        {"uri": "mailto:d@reports.test", "domain": "reports.test", "external": True,
         "authorized": True}
    ]  # fmt: skip


async def test_external_destination_authorized_by_wildcard(resolver: Resolver) -> None:
    result = await check_dmarc("ext-wild.dmarc.test", resolver)
    assert result.findings == []
    auth = result.to_dict()["rua_authorization"]
    assert [(a["uri"], a["external"], a["authorized"]) for a in auth] == [
        ("mailto:d@wild.reports.test!10m", True, True),
        ("mailto:f@wild.reports.test", True, True),
    ]


async def test_external_destination_unauthorized(resolver: Resolver, dns_server: DNSServer) -> None:
    result = await check_dmarc("ext-unauth.dmarc.test", resolver)
    assert codes(result) == ["dmarc.rua_unauthorized", "dmarc.rua_unauthorized"]
    assert result.status == "warning"
    first = result.findings[0].message
    assert "mailto:d@reports.test" in first
    assert "ext-unauth.dmarc.test._report._dmarc.reports.test" in first
    assert result.findings[1].message.startswith("ruf destination mailto:f@reports.test")
    auth = result.to_dict()["rua_authorization"]
    assert [(a["domain"], a["external"], a["authorized"]) for a in auth] == [
        ("dmarc.test", False, True),
        ("reports.test", True, False),
        ("reports.test", True, False),
    ]
    lookups = [q for q in dns_server.queries
               if q[0] == "ext-unauth.dmarc.test._report._dmarc.reports.test"]  # fmt: skip
    assert len(lookups) == 1  # one lookup per destination domain


async def test_authorization_record_must_start_with_v_dmarc1(resolver: Resolver) -> None:
    result = await check_dmarc("ext-bogus.dmarc.test", resolver)
    assert codes(result) == ["dmarc.rua_unauthorized"]


async def test_authorization_timeout_is_unknown_not_unauthorized(resolver: Resolver) -> None:
    result = await check_dmarc("ext-timeout.dmarc.test", resolver)
    assert codes(result) == ["dns.timeout"]
    assert (
        "ext-timeout.dmarc.test._report._dmarc.reports.timeout.test" in result.findings[0].message
    )
    assert result.status == "unknown"
    auth = {a["domain"]: a["authorized"] for a in result.to_dict()["rua_authorization"]}
    assert auth == {"dmarc.test": True, "reports.timeout.test": None}
    assert result.enforcing_known is True  # the policy itself is known


async def test_mixed_destinations(resolver: Resolver) -> None:
    result = await check_dmarc("ext-mixed.dmarc.test", resolver)
    assert codes(result) == ["dns.servfail"]
    auth = {
        a["domain"]: (a["external"], a["authorized"]) for a in result.to_dict()["rua_authorization"]
    }
    assert auth == {
        "mail.dmarc.test": (False, True),
        "reports.test": (True, True),
        "wild.reports.test": (True, True),
        "x.servfail.test": (True, None),
    }


# --- check_dmarc: lookup failures ------------------------------------------------------------


@pytest.mark.parametrize(
    ("domain", "code"),
    [
        ("x.servfail.test", "dns.servfail"),
        ("x.refused.test", "dns.refused"),
        ("x.timeout.test", "dns.timeout"),
        ("sub.dmarcfail.test", "dns.servfail"),  # own name NXDOMAIN, org lookup fails
    ],
)
async def test_failed_lookup_is_unknown_never_missing(
    resolver: Resolver, domain: str, code: str
) -> None:
    result = await check_dmarc(domain, resolver)
    assert codes(result) == [code]
    assert result.status == "unknown"
    assert result.enforcing_known is None
    assert result.to_dict()["record"] is None


# --- speed: independent lookups run concurrently ---------------------------------------------


def lockstep_server() -> DNSServer:
    zones = ["dmarc.test", "reports.test"]
    return DNSServer(load_zones(ZONES_DIR / f"{z}.zone" for z in zones), lockstep=0.1).start()


async def test_lookups_run_concurrently() -> None:
    """Two external destinations plus _dmarc: 2 round trips, not 3; a subdomain's own and
    organizational _dmarc names are asked together: 1 round trip, not 2."""
    server = lockstep_server()
    try:
        result = await check_dmarc("ext-two.dmarc.test", Resolver([server.address], timeout=5.0))
    finally:
        server.stop()
    assert [a.authorized for a in result.rua_authorization] == [True, True]
    assert server.round_trips == 2
    server = lockstep_server()
    try:
        resolver = Resolver([server.address], timeout=5.0)
        inherited = await check_dmarc("deep.mail.sub.dmarc.test", resolver)
    finally:
        server.stop()
    assert inherited.location == "_dmarc.dmarc.test"
    assert server.round_trips == 1
