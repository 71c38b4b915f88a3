"""BIMI: record parser, SVG checks, and check_bimi against real DNS and HTTPS servers."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deliverwatch.auth import bimi
from deliverwatch.auth.bimi import (
    BimiRecord,
    BimiResult,
    BimiSyntaxError,
    check_bimi,
    parse_bimi,
    svg_problem,
)
from deliverwatch.dns import Resolver
from deliverwatch.http import Fetcher
from tests.servers.https import HTTPSServer, trusting_settings

LOGO = "https://logo.bimi.test"
GOOD_SVG = b"""<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" version="1.2" baseProfile="tiny-ps" viewBox="0 0 64 64">
  <title>Example Brand</title>
  <rect width="64" height="64" fill="#0a7"/>
</svg>
"""
PLAIN_SVG = GOOD_SVG.replace(b' baseProfile="tiny-ps"', b"")
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00"
BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE svg [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>
<svg xmlns="http://www.w3.org/2000/svg" baseProfile="tiny-ps"><title>&b;</title></svg>"""


@pytest.fixture(scope="module")
def https_server() -> Iterator[HTTPSServer]:
    with HTTPSServer(["logo.bimi.test"]) as server:
        host = "logo.bimi.test"
        server.route(host, "/good.svg", GOOD_SVG, content_type="image/svg+xml")
        server.route(host, "/plain.svg", PLAIN_SVG, content_type="image/svg+xml")
        server.route(host, "/logo.png", PNG, content_type="image/png")
        server.route(host, "/huge.svg", GOOD_SVG + b" " * 40_000, content_type="image/svg+xml")
        server.route(host, "/old.svg", status=302, headers={"Location": "/good.svg"})
        yield server


http_settings = trusting_settings


@pytest.fixture
async def fetcher(resolver: Resolver, https_server: HTTPSServer) -> AsyncIterator[Fetcher]:
    async with Fetcher(resolver, http_settings(https_server)) as f:
        yield f


def codes(result: BimiResult) -> list[str]:
    return [f.code for f in result.findings]


# --- check_bimi -------------------------------------------------------------------------------


async def test_good_record_and_logo(resolver: Resolver, fetcher: Fetcher) -> None:
    result = await check_bimi("good.bimi.test", resolver, dmarc_enforcing=True, fetcher=fetcher)
    assert result.findings == []
    assert result.to_dict() == {
        "published": True,
        "record": f"v=BIMI1; l={LOGO}/good.svg; a={LOGO}/vmc.pem",
        "record_name": "default._bimi.good.bimi.test",
        "declined": False,
        "logo_url": f"{LOGO}/good.svg",
        "authority_url": f"{LOGO}/vmc.pem",
        "logo_checked": True,
        "status": "ok",
    }


async def test_selector_and_avp(resolver: Resolver, fetcher: Fetcher) -> None:
    result = await check_bimi(
        "good.bimi.test", resolver, dmarc_enforcing=True, fetcher=fetcher, selector="brand"
    )
    assert result.record_name == "brand._bimi.good.bimi.test"
    assert result.parsed is not None and result.parsed.avp == "brand"
    assert result.status == "ok"


async def test_falls_back_to_organizational_domain(resolver: Resolver) -> None:
    result = await check_bimi("news.bimi.test", resolver, dmarc_enforcing=True, fetcher=None)
    assert result.published
    assert result.record_name == "default._bimi.bimi.test"


async def test_requires_enforcing_dmarc(resolver: Resolver) -> None:
    weak = await check_bimi("good.bimi.test", resolver, dmarc_enforcing=False, fetcher=None)
    unknown = await check_bimi("good.bimi.test", resolver, dmarc_enforcing=None, fetcher=None)
    assert codes(weak) == ["bimi.requires_enforcing_dmarc"]
    assert weak.status == "warning"
    assert codes(unknown) == []


async def test_insecure_uris_are_not_fetched(
    resolver: Resolver, fetcher: Fetcher, https_server: HTTPSServer
) -> None:
    hits = len(https_server.hits)
    result = await check_bimi("insecure.bimi.test", resolver, dmarc_enforcing=True, fetcher=fetcher)
    assert codes(result) == ["bimi.insecure_uri", "bimi.insecure_uri"]
    assert result.findings[0].message == "l=http://logo.bimi.test/good.svg is not HTTPS"
    assert not result.logo_checked
    assert len(https_server.hits) == hits


async def test_no_certificate_is_info(resolver: Resolver, fetcher: Fetcher) -> None:
    result = await check_bimi("nocert.bimi.test", resolver, dmarc_enforcing=True, fetcher=fetcher)
    assert codes(result) == ["bimi.no_certificate"]
    assert result.status == "ok"
    assert result.to_dict()["authority_url"] is None


@pytest.mark.parametrize(
    ("domain", "code", "message"),
    [
        (
            "notsvg",
            "bimi.logo_invalid",
            f"{LOGO}/logo.png: not an SVG document: not well-formed XML",
        ),
        (
            "notiny",
            "bimi.logo_invalid",
            f'{LOGO}/plain.svg: the <svg> element has no baseProfile="tiny-ps": BIMI requires '
            "SVG Tiny PS",
        ),
        ("huge", "bimi.logo_invalid", f"{LOGO}/huge.svg is larger than 32 KB, the BIMI limit"),
        ("missing", "bimi.logo_unreachable", f"{LOGO}/missing.svg: HTTP 404 Not Found"),
    ],
)
async def test_logo_problems(
    resolver: Resolver, fetcher: Fetcher, domain: str, code: str, message: str
) -> None:
    result = await check_bimi(
        f"{domain}.bimi.test", resolver, dmarc_enforcing=True, fetcher=fetcher
    )
    assert codes(result) == [code]
    assert result.findings[0].message.startswith(message)
    assert result.logo_checked and result.status == "warning"


async def test_logo_redirect_is_followed(resolver: Resolver, fetcher: Fetcher) -> None:
    result = await check_bimi("moved.bimi.test", resolver, dmarc_enforcing=True, fetcher=fetcher)
    assert (codes(result), result.logo_checked) == ([], True)


async def test_logo_on_private_address_refused(
    resolver: Resolver, https_server: HTTPSServer
) -> None:
    async with Fetcher(resolver, http_settings(https_server, allow_private=False)) as fetcher:
        result = await check_bimi("good.bimi.test", resolver, dmarc_enforcing=True, fetcher=fetcher)
    assert codes(result) == ["bimi.logo_unreachable"]
    assert "127.0.0.1, a loopback address" in result.findings[0].message


async def test_without_fetcher_logo_not_checked(resolver: Resolver) -> None:
    result = await check_bimi("notsvg.bimi.test", resolver, dmarc_enforcing=True, fetcher=None)
    assert (codes(result), result.logo_checked, result.status) == ([], False, "ok")


async def test_declination_record(resolver: Resolver, fetcher: Fetcher) -> None:
    result = await check_bimi(
        "declined.bimi.test", resolver, dmarc_enforcing=False, fetcher=fetcher
    )
    assert codes(result) == []
    assert result.to_dict()["declined"] is True
    assert (result.published, result.logo_checked) == (True, False)


@pytest.mark.parametrize(
    ("domain", "message"),
    [
        ("bad", "default._bimi.bad.bimi.test: l=logo.svg is not an absolute URI"),
        ("multi", "default._bimi.multi.bimi.test has 2 BIMI records; receivers use none of them"),
    ],
)
async def test_syntax_errors(
    resolver: Resolver, fetcher: Fetcher, domain: str, message: str
) -> None:
    result = await check_bimi(
        f"{domain}.bimi.test", resolver, dmarc_enforcing=False, fetcher=fetcher
    )
    assert codes(result) == ["bimi.syntax_error"]
    assert result.findings[0].message == message
    assert not result.logo_checked


async def test_not_published_is_no_finding(resolver: Resolver) -> None:
    result = await check_bimi("nothing.mtasts.test", resolver, dmarc_enforcing=False, fetcher=None)
    assert (result.findings, result.published, result.status) == ([], False, "ok")
    assert result.to_dict()["record"] is None


async def test_dns_failure_is_unknown(resolver: Resolver) -> None:
    result = await check_bimi("lame.bimi.test", resolver, dmarc_enforcing=True, fetcher=None)
    assert codes(result) == ["dns.servfail"]
    assert (result.status, result.published) == ("unknown", False)


# --- parse_bimi ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "record"),
    [
        (
            "v=BIMI1; l=https://x.example/l.svg; a=https://x.example/a.pem",
            BimiRecord("https://x.example/l.svg", "https://x.example/a.pem"),
        ),
        ("v=BIMI1;l=https://x.example/l.svg;", BimiRecord("https://x.example/l.svg", "")),
        ("v=BIMI1; l=; a=;", BimiRecord("", "")),
        ("v=BIMI1", BimiRecord("", "")),
        (
            "v=BIMI1; l=http://x.example/l.svg; avp=Personal; future=1",
            BimiRecord("http://x.example/l.svg", "", "personal"),
        ),
        ("V=BIMI1; L=https://x.example/l.svg", BimiRecord("https://x.example/l.svg", "")),
    ],
)
def test_parse_bimi(text: str, record: BimiRecord) -> None:
    assert parse_bimi(text) == record


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the record is empty"),
        ("  ;", "is not a tag=value pair"),
        ("v=BIMI2; l=https://x.example/l.svg", "must start with v=BIMI1"),
        ("l=https://x.example/l.svg; v=BIMI1", "must start with v=BIMI1"),
        ("v=bimi1", "must start with v=BIMI1"),
        ("v=BIMI1; l=https://a.example/1.svg; l=https://a.example/2.svg", "more than once"),
        ("v=BIMI1; l=https://a.example/1.svg,https://a.example/2.svg", "single URI"),
        ("v=BIMI1; a=/vmc.pem", "not an absolute URI"),
        ("v=BIMI1; l=https://a.example/my logo.svg", "not an absolute URI"),
        ("v=BIMI1; l=https://[::1/x.svg", "is not a URI"),
        ("v=BIMI1; avp=everyone", "avp=everyone must be brand or personal"),
        ("v=BIMI1; junk", "is not a tag=value pair"),
    ],
)
def test_parse_bimi_errors(text: str, message: str) -> None:
    with pytest.raises(BimiSyntaxError, match=message):
        parse_bimi(text)


BIMI_PARTS = [
    "v=BIMI1",
    "l=https://a.example/l.svg",
    "a=https://a.example/a.pem",
    "l=",
    "a=",
    "avp=brand",
    "avp=x",
    ";",
    " ",
    "=",
    "l=https://[",
    "l=//x",
    "\t",
    "é",
    ",",
]


@given(st.one_of(st.text(), st.lists(st.sampled_from(BIMI_PARTS)).map("".join)))
def test_parse_bimi_only_raises_its_syntax_error(text: str) -> None:
    with contextlib.suppress(BimiSyntaxError):
        parse_bimi(text)


# --- svg_problem ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (GOOD_SVG, None),
        (PLAIN_SVG, 'has no baseProfile="tiny-ps"'),
        (GOOD_SVG.replace(b'"tiny-ps"', b'"tiny"'), 'baseProfile="tiny", but BIMI requires'),
        (GOOD_SVG.replace(b' xmlns="http://www.w3.org/2000/svg"', b""), "not in the SVG namespace"),
        (GOOD_SVG.replace(b"<title>Example Brand</title>", b""), "requires a <title>"),
        (GOOD_SVG.replace(b"<title>", b"<script>alert(1)</script><title>"), "contains <script>"),
        (b"<html><body/></html>", "the root element is <html>, not <svg>"),
        (PNG, "not well-formed XML"),
        (b"", "not well-formed XML"),
        (b'<?xml version="1.0" encoding="nonsense"?><svg/>', "not an SVG document"),
    ],
)
def test_svg_problem(data: bytes, problem: str | None) -> None:
    found = svg_problem(data)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


def test_entity_expansion_is_refused() -> None:
    assert svg_problem(BOMB) == (
        "the document declares XML entities or external references; a logo must not"
    )


def test_stdlib_fallback_without_defusedxml(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bimi, "_defused", None)
    assert svg_problem(GOOD_SVG) is None
    assert svg_problem(BOMB) == svg_problem(b"<!ENTITY")
    assert "baseProfile" in (svg_problem(PLAIN_SVG) or "")


@given(
    st.one_of(
        st.binary(max_size=300),
        st.lists(
            st.sampled_from(
                [
                    b"<svg",
                    b">",
                    b"</svg>",
                    b"<title>",
                    b"</title>",
                    b' xmlns="http://www.w3.org/2000/svg"',
                    b"<!ENTITY",
                    b"&a;",
                    b"<?xml",
                    b"?>",
                    b"\x00",
                    b"<!DOCTYPE x>",
                ]
            )
        ).map(b"".join),
    )
)
def test_svg_problem_never_raises(data: bytes) -> None:
    result = svg_problem(data)
    assert result is None or isinstance(result, str)
