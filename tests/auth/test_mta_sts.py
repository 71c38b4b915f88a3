"""MTA-STS: parsers, and check_mta_sts against the real DNS server and a local HTTPS server."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deliverwatch.auth.findings import Severity
from deliverwatch.auth.mta_sts import (
    MAX_AGE_LIMIT,
    MtaStsResult,
    MtaStsSyntaxError,
    StsPolicy,
    check_mta_sts,
    mx_pattern_matches,
    parse_sts_policy,
    parse_sts_txt,
)
from deliverwatch.dns import Resolver
from deliverwatch.http import Fetcher
from tests.servers.https import HTTPSServer, trusting_settings

PATH = "/.well-known/mta-sts.txt"
DOMAINS = [
    "good",
    "aliased",
    "mismatch",
    "testing",
    "nonemode",
    "badtxt",
    "badpolicy",
    "notfound",
    "huge",
    "slow",
    "redirect",
    "html",
    "multi",
]
GOOD_POLICY = (
    "version: STSv1\r\nmode: enforce\r\nmx: mx1.good.mtasts.test\r\n"
    "mx: *.backup.good.mtasts.test\r\nmax_age: 604800\r\n"
)


@pytest.fixture(scope="module")
def https_server() -> Iterator[HTTPSServer]:
    with HTTPSServer(f"mta-sts.{d}.mtasts.test" for d in DOMAINS) as server:

        def policy(domain: str, body: str = GOOD_POLICY, **kwargs: object) -> None:
            server.route(f"mta-sts.{domain}.mtasts.test", PATH, body, **kwargs)  # type: ignore[arg-type]

        for domain in ("good", "aliased", "badtxt", "multi"):
            policy(domain)
        policy(
            "mismatch", "version: STSv1\nmode: enforce\nmx: mail.elsewhere.test\nmax_age: 86400\n"
        )
        policy(
            "testing",
            "version: STSv1\nmode: testing\nmx: mx1.testing.mtasts.test\nmax_age: 86400\n",
        )
        policy("nonemode", "version: STSv1\nmode: none\nmax_age: 86400\n")
        policy("badpolicy", "version: STSv1\nmode: enforce\nmx: mx.badpolicy.mtasts.test\n")
        policy("huge", behaviour="endless")
        policy("slow", behaviour="drip")
        policy("redirect", status=301, headers={"Location": "/moved.txt"})
        server.route("mta-sts.redirect.mtasts.test", "/moved.txt", GOOD_POLICY)
        policy("html", content_type="text/html; charset=utf-8")
        yield server


http_settings = trusting_settings


@pytest.fixture
async def fetcher(resolver: Resolver, https_server: HTTPSServer) -> AsyncIterator[Fetcher]:
    async with Fetcher(resolver, http_settings(https_server)) as f:
        yield f


def codes(result: MtaStsResult) -> list[str]:
    return [f.code for f in result.findings]


# --- check_mta_sts ----------------------------------------------------------------------------


async def test_good_policy_matches_every_mx(resolver: Resolver, fetcher: Fetcher) -> None:
    result = await check_mta_sts(
        "Good.MTASTS.test.",
        resolver,
        fetcher=fetcher,
        mx_hosts=["MX1.good.mtasts.test.", "b1.backup.good.mtasts.test"],
    )
    assert result.findings == []
    assert result.to_dict() == {
        "published": True,
        "record": "v=STSv1; id=20240101T000000",
        "id": "20240101T000000",
        "policy": {
            "version": "STSv1",
            "mode": "enforce",
            "mx": ["mx1.good.mtasts.test", "*.backup.good.mtasts.test"],
            "max_age": 604800,
        },
        "policy_url": "https://mta-sts.good.mtasts.test/.well-known/mta-sts.txt",
        "fetched": True,
        "status": "ok",
    }


async def test_cnamed_record_and_policy_host(resolver: Resolver, fetcher: Fetcher) -> None:
    result = await check_mta_sts(
        "aliased.mtasts.test", resolver, fetcher=fetcher, mx_hosts=["mx1.good.mtasts.test"]
    )
    assert (result.status, result.fetched, result.sts_id) == ("ok", True, "20240101T000000")


async def test_wildcard_covers_exactly_one_label(resolver: Resolver, fetcher: Fetcher) -> None:
    result = await check_mta_sts(
        "good.mtasts.test",
        resolver,
        fetcher=fetcher,
        mx_hosts=["a.b.backup.good.mtasts.test", "backup.good.mtasts.test"],
    )
    assert codes(result) == ["mta_sts.mx_mismatch", "mta_sts.mx_mismatch"]
    assert "MX host a.b.backup.good.mtasts.test is not matched" in result.findings[0].message


async def test_mx_mismatch_is_an_error_when_enforced(resolver: Resolver, fetcher: Fetcher) -> None:
    result = await check_mta_sts(
        "mismatch.mtasts.test",
        resolver,
        fetcher=fetcher,
        mx_hosts=["mx1.mismatch.mtasts.test", "mx1.mismatch.mtasts.test"],
    )
    assert codes(result) == ["mta_sts.mx_mismatch"]  # duplicate MX hosts reported once
    (mismatch,) = result.findings
    assert mismatch.severity is Severity.ERROR
    assert mismatch.message == (
        "MX host mx1.mismatch.mtasts.test is not matched by the policy's mx: lines "
        "(mail.elsewhere.test); senders will refuse to deliver to it"
    )
    assert result.status == "error"


async def test_testing_mode(resolver: Resolver, fetcher: Fetcher) -> None:
    result = await check_mta_sts(
        "testing.mtasts.test",
        resolver,
        fetcher=fetcher,
        mx_hosts=["mx1.testing.mtasts.test", "mx2.testing.mtasts.test"],
    )
    assert codes(result) == ["mta_sts.testing_mode", "mta_sts.mx_mismatch"]
    assert result.findings[1].severity is Severity.WARNING  # not yet enforced
    assert result.status == "warning"
    assert result.policy is not None and result.policy.mode == "testing"


async def test_mode_none_skips_mx_matching(resolver: Resolver, fetcher: Fetcher) -> None:
    result = await check_mta_sts(
        "nonemode.mtasts.test", resolver, fetcher=fetcher, mx_hosts=["mx1.nonemode.mtasts.test"]
    )
    assert (result.findings, result.status) == ([], "ok")
    assert result.policy == StsPolicy("STSv1", "none", (), 86400)


async def test_bad_txt_record_still_checks_policy(resolver: Resolver, fetcher: Fetcher) -> None:
    result = await check_mta_sts(
        "badtxt.mtasts.test", resolver, fetcher=fetcher, mx_hosts=["mx1.good.mtasts.test"]
    )
    assert codes(result) == ["mta_sts.syntax_error"]
    assert result.findings[0].message == (
        "_mta-sts.badtxt.mtasts.test: id=not-alnum! must be 1 to 32 letters or digits"
    )
    assert result.fetched and result.sts_id is None


async def test_bad_policy(resolver: Resolver, fetcher: Fetcher) -> None:
    result = await check_mta_sts("badpolicy.mtasts.test", resolver, fetcher=fetcher, mx_hosts=[])
    assert codes(result) == ["mta_sts.syntax_error"]
    assert result.findings[0].message == (
        "https://mta-sts.badpolicy.mtasts.test/.well-known/mta-sts.txt: "
        "the policy has no max_age: field"
    )
    assert result.fetched and result.policy is None
    assert result.to_dict()["policy"] is None


async def test_multiple_records(resolver: Resolver, fetcher: Fetcher) -> None:
    result = await check_mta_sts("multi.mtasts.test", resolver, fetcher=fetcher, mx_hosts=[])
    assert codes(result) == ["mta_sts.syntax_error"]
    assert "has 2 v=STSv1 records" in result.findings[0].message


@pytest.mark.parametrize(
    ("domain", "reason"),
    [
        ("notfound", "HTTP 404 Not Found"),
        ("huge", "body larger than 65536 bytes"),
        ("nohost", "mta-sts.nohost.mtasts.test has no A or AAAA record"),
        (
            "redirect",
            "HTTP 301 redirect to https://mta-sts.redirect.mtasts.test/moved.txt not "
            "followed (RFC 8461 §3.3: senders do not follow redirects)",
        ),
    ],
)
async def test_policy_unreachable(
    resolver: Resolver, fetcher: Fetcher, https_server: HTTPSServer, domain: str, reason: str
) -> None:
    result = await check_mta_sts(f"{domain}.mtasts.test", resolver, fetcher=fetcher, mx_hosts=[])
    assert codes(result) == ["mta_sts.policy_unreachable"]
    assert result.findings[0].message == f"{result.policy_url}: {reason}"
    assert not result.fetched and result.status == "warning"
    assert ("mta-sts.redirect.mtasts.test", "/moved.txt") not in https_server.hits


async def test_slow_server_times_out(resolver: Resolver, https_server: HTTPSServer) -> None:
    async with Fetcher(resolver, http_settings(https_server, timeout=0.5)) as fetcher:
        start = time.monotonic()
        result = await check_mta_sts("slow.mtasts.test", resolver, fetcher=fetcher, mx_hosts=[])
    assert time.monotonic() - start < 2
    assert codes(result) == ["mta_sts.policy_unreachable"]
    assert result.findings[0].message.endswith("timed out after 0.5s")


async def test_private_address_refused(resolver: Resolver, https_server: HTTPSServer) -> None:
    async with Fetcher(resolver, http_settings(https_server, allow_private=False)) as fetcher:
        result = await check_mta_sts("good.mtasts.test", resolver, fetcher=fetcher, mx_hosts=[])
    assert codes(result) == ["mta_sts.policy_unreachable"]
    assert "resolves to 127.0.0.1, a loopback address; refusing to connect" in (
        result.findings[0].message
    )


async def test_wrong_content_type_still_parsed(resolver: Resolver, fetcher: Fetcher) -> None:
    result = await check_mta_sts(
        "html.mtasts.test", resolver, fetcher=fetcher, mx_hosts=["mx1.good.mtasts.test"]
    )
    assert codes(result) == ["mta_sts.content_type"]
    assert result.findings[0].message.endswith("is served as text/html, not text/plain")
    assert result.policy is not None and result.status == "warning"


async def test_no_http_means_not_checked(resolver: Resolver) -> None:
    result = await check_mta_sts("good.mtasts.test", resolver, fetcher=None, mx_hosts=["x"])
    assert codes(result) == ["mta_sts.not_checked"]
    assert (result.status, result.published, result.fetched) == ("not_checked", True, False)
    assert result.sts_id == "20240101T000000"


@pytest.mark.parametrize("domain", ["other.mtasts.test", "absent.mtasts.test"])
async def test_not_published_is_no_finding(resolver: Resolver, domain: str) -> None:
    result = await check_mta_sts(domain, resolver, fetcher=None, mx_hosts=["mx.example"])
    assert (result.findings, result.status, result.published) == ([], "ok", False)
    assert result.to_dict()["policy_url"] is None


async def test_dns_failure_is_unknown_not_missing(resolver: Resolver) -> None:
    result = await check_mta_sts("x.timeout.test", resolver, fetcher=None, mx_hosts=[])
    assert codes(result) == ["dns.timeout"]
    assert result.status == "unknown"


# --- parsers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "sts_id"),
    [
        ("v=STSv1; id=20160831085700Z", "20160831085700Z"),
        ("v=STSv1;id=abc;", "abc"),
        ("v=STSv1 ; id=abc ; ", "abc"),
        ("v=STSv1; ext.name=val:ue; id=a1", "a1"),
        ("v=STSv1; id=first; id=second", "first"),
        ("v=STSv1; id=" + "a" * 32, "a" * 32),
    ],
)
def test_parse_sts_txt(text: str, sts_id: str) -> None:
    assert parse_sts_txt(text).id == sts_id


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("v=STSv1", "no id= field"),
        ("v=STSv1; id=", "must be 1 to 32 letters or digits"),
        ("v=STSv1; id=" + "a" * 33, "must be 1 to 32 letters or digits"),
        ("v=STSv1; id=a-b", "must be 1 to 32 letters or digits"),
        ("v=STSv2; id=abc", "must start with v=STSv1"),
        ("id=abc; v=STSv1", "must start with v=STSv1"),
        ("V=stsv1; id=abc", "must start with v=STSv1"),
        ("v=STSv1; id abc", "is not a name=value field"),
        ("v=STSv1;; id=abc", "is not a name=value field"),
        ("v=STSv1; ext=a b; id=abc", "has an invalid value"),
    ],
)
def test_parse_sts_txt_errors(text: str, message: str) -> None:
    with pytest.raises(MtaStsSyntaxError, match=message):
        parse_sts_txt(text)


def test_parse_sts_policy_lf_crlf_repeats_and_unknown_keys() -> None:
    text = (
        "version: STSv1\nmode:enforce\r\nmx: MAIL.example.com.\nmode: none\n"
        "extension_key: some value\nmx: *.example.net\nmax_age: 31557600\n\n"
    )
    assert parse_sts_policy(text) == StsPolicy(
        "STSv1", "enforce", ("mail.example.com", "*.example.net"), MAX_AGE_LIMIT
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("mode: enforce\nmx: a.example\nmax_age: 1\n", "no version: field"),
        ("version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n", "only STSv1 exists"),
        ("version: STSv1\nmode: report\nmx: a.example\nmax_age: 1\n", "enforce, testing or none"),
        ("version: STSv1\nmode: enforce\nmax_age: 1\n", "needs at least one mx"),
        ("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 31557601\n", "max_age"),
        ("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -1\n", "max_age"),
        ("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: 12345678901\n", "max_age"),
        ("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: ٣\n", "max_age"),
        ("version: STSv1\nmode: enforce\nmx: mail.*.example\nmax_age: 1\n", "line 3: mx"),
        ("version: STSv1\nmode: enforce\nmx: *.\nmax_age: 1\n", "line 3: mx"),
        ("version: STSv1\nmode: enforce\nmx: -bad.example\nmax_age: 1\n", "line 3: mx"),
        ("version: STSv1\n mode: enforce\n", "line 2 is not a 'key: value' field"),
        ("version STSv1\n", "line 1 is not a 'key: value' field"),
        ("version: STSv1\nmode:\n", "line 2: mode has an empty or invalid value"),
    ],
)
def test_parse_sts_policy_errors(text: str, message: str) -> None:
    with pytest.raises(MtaStsSyntaxError, match=message):
        parse_sts_policy(text)


@pytest.mark.parametrize(
    ("pattern", "host", "matches"),
    [
        ("mail.example.com", "MAIL.example.com.", True),
        ("mail.example.com", "mail2.example.com", False),
        ("*.example.com", "mx.example.com", True),
        ("*.example.com", "example.com", False),
        ("*.example.com", "a.b.example.com", False),
        ("*.example.com", ".example.com", False),
    ],
)
def test_mx_pattern_matches(pattern: str, host: str, matches: bool) -> None:
    assert mx_pattern_matches(pattern, host) is matches


TXT_PARTS = ["v=STSv1", "id=abc123", "id=", "id=x y", ";", " ; ", "ext=val", "=", "v=STSv1;", "é"]
POLICY_LINES = [
    "version: STSv1",
    "mode: enforce",
    "mode: none",
    "mode: testing",
    "mx: a.example",
    "mx: *.b.example",
    "mx: *",
    "max_age: 86400",
    "max_age: 99999999999",
    "\r",
    "",
    "key: value",
    ":",
    " x: y",
    "mx: ..",
    "version:STSv1 ",
]


@given(st.one_of(st.text(), st.lists(st.sampled_from(TXT_PARTS)).map("".join)))
def test_parse_sts_txt_only_raises_its_syntax_error(text: str) -> None:
    with contextlib.suppress(MtaStsSyntaxError):
        parse_sts_txt(text)


@given(st.one_of(st.text(), st.lists(st.sampled_from(POLICY_LINES)).map("\n".join)))
def test_parse_sts_policy_only_raises_its_syntax_error(text: str) -> None:
    try:
        policy = parse_sts_policy(text)
    except MtaStsSyntaxError:
        return
    assert policy.mode in ("enforce", "testing", "none")
    assert 0 <= policy.max_age <= MAX_AGE_LIMIT
