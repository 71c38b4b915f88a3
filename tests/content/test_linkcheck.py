"""--check-links: probes through the Fetcher (real HTTPS server) and URI blocklists (real DNS)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from deliverwatch.content.lint import Network, lint
from deliverwatch.content.message import parse_template
from deliverwatch.content.rules.linkcheck import LinkChecker, check_uri_blocklists
from deliverwatch.dns import Resolver
from deliverwatch.http import Fetcher, HttpSettings
from tests.servers.https import HTTPSServer

WWW = "https://www.shop.lint.test"
HEADERS = [
    ("From", "news@shop.lint.test"),
    ("List-Unsubscribe", "<https://www.shop.lint.test/u/1>"),
    ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
]


@pytest.fixture(scope="module")
def web() -> Iterator[HTTPSServer]:
    with HTTPSServer(["www.shop.lint.test", "cdn.shop.lint.test"]) as server:
        server.route("www.shop.lint.test", "/ok", "fine")
        server.route("www.shop.lint.test", "/once", "fine")
        for n in range(5):
            server.route("www.shop.lint.test", f"/n{n}", "fine")
        server.route("www.shop.lint.test", "/u/1", "unsubscribed")
        server.route("www.shop.lint.test", "/moved", status=301, headers={"Location": "/ok"})
        server.route("www.shop.lint.test", "/forbidden", status=403)
        server.route("www.shop.lint.test", "/error", status=500)
        server.route("www.shop.lint.test", "/big", b"x" * 100_000)
        server.route("cdn.shop.lint.test", "/logo.png", b"png", content_type="image/png")
        yield server


def settings(server: HTTPSServer, *, allow_private: bool = True) -> HttpSettings:
    return HttpSettings(
        timeout=5.0,
        allow_private=allow_private,
        ca_bundle=str(server.ca_file),
        https_port=server.port,
    )


@pytest.fixture
async def fetcher(resolver: Resolver, web: HTTPSServer) -> AsyncIterator[Fetcher]:
    async with Fetcher(resolver, settings(web)) as f:
        yield f


def page(*hrefs: str) -> str:
    links = "\n".join(f'<p><a href="{h}">Link {i}</a></p>' for i, h in enumerate(hrefs))
    body = "Autumn planting notes for the garden, with a guide to bulbs and garlic. " * 3
    unsubscribe = f'<p><a href="{WWW}/u/1">Unsubscribe</a></p>'
    return f"<html><body>\n<p>{body}</p>\n{links}\n{unsubscribe}\n</body></html>\n"


async def test_working_links_are_quiet(resolver: Resolver, fetcher: Fetcher) -> None:
    message = parse_template(
        page(f"{WWW}/ok", f"{WWW}/moved", f"{WWW}/big", "https://cdn.shop.lint.test/logo.png"),
        html=True,
        headers=HEADERS,
        text_alternative=f"Plain text. Unsubscribe: {WWW}/u/1\n",
    )
    report = await lint(message, network=Network(resolver, links=LinkChecker(fetcher)))
    assert report.codes == set(), [f.message for f in report.findings]


async def test_broken_links(resolver: Resolver, fetcher: Fetcher, web: HTTPSServer) -> None:
    html = page(f"{WWW}/missing", "https://gone.lint.test/x", f"{WWW}/error", f"{WWW}/ok")
    message = parse_template(html, "broken.html", html=True, headers=HEADERS)
    findings = await LinkChecker(fetcher).check(message)
    assert [f.code for f in findings] == ["link.broken"]
    text = findings[0].message
    assert text.startswith("3 link(s) broken")
    assert "/missing: HTTP 404" in text and "/error: HTTP 500" in text
    assert "gone.lint.test has no A or AAAA record" in text
    assert findings[0].where.line == 3 and findings[0].where.part == "text/html"


async def test_undecidable_links_are_unverified_not_broken(
    resolver: Resolver, fetcher: Fetcher
) -> None:
    message = parse_template(
        page(f"{WWW}/forbidden", "https://slow.timeout.test/x"), html=True, headers=HEADERS
    )
    findings = await LinkChecker(fetcher).check(message)
    assert [f.code for f in findings] == ["link.unverified"]
    assert findings[0].points == 0
    assert "HTTP 403" in findings[0].message and "DNS lookup" in findings[0].message


async def test_each_url_is_fetched_once(
    resolver: Resolver, fetcher: Fetcher, web: HTTPSServer
) -> None:
    checker = LinkChecker(fetcher)
    before = len(web.hits)
    html = page(f"{WWW}/once", f"{WWW}/once")
    text = f"Read it: {WWW}/once\nUnsubscribe: {WWW}/u/1\n"
    for _ in range(3):
        message = parse_template(html, html=True, headers=HEADERS, text_alternative=text)
        assert await checker.check(message) == []
    assert sorted(web.hits[before:]) == [
        ("www.shop.lint.test", "/once"),
        ("www.shop.lint.test", "/u/1"),
    ]  # once each for the run


async def test_private_addresses_are_refused(resolver: Resolver, web: HTTPSServer) -> None:
    before = len(web.hits)
    async with Fetcher(resolver, settings(web, allow_private=False)) as strict:
        message = parse_template(page(f"{WWW}/ok"), html=True, headers=HEADERS)
        findings = await LinkChecker(strict).check(message)
    assert [f.code for f in findings] == ["link.broken"]
    assert "resolves to 127.0.0.1, a loopback address; refusing" in findings[0].message
    assert len(web.hits) == before  # nothing was fetched


async def test_link_limit(resolver: Resolver, fetcher: Fetcher) -> None:
    message = parse_template(page(*(f"{WWW}/n{n}" for n in range(5))), html=True, headers=HEADERS)
    findings = await LinkChecker(fetcher, max_links=2).check(message)
    assert findings == []  # the checked ones work; the rest are not fetched
    message = parse_template(
        page(*(f"{WWW}/missing?n={n}" for n in range(5))), html=True, headers=HEADERS
    )
    [broken] = await LinkChecker(fetcher, max_links=2).check(message)
    assert "2 link(s) broken" in broken.message and "(4 more links not checked)" in broken.message


async def test_uri_blocklists(resolver: Resolver) -> None:
    message = parse_template(
        page(
            "https://www.spammy-shop.test/deal",
            "https://refused-shop.test/",
            "https://slow-shop.test/",
            f"{WWW}/ok",
            "https://198.51.100.7/skip",
        ),
        html=True,
        headers=HEADERS,
    )
    findings = await check_uri_blocklists(message, resolver, ["lintbl.test", "LINTBL.test."])
    by_code = {f.code: f for f in findings}
    assert sorted(by_code) == ["link.blocklist_unknown", "link.blocklisted"]
    listed = by_code["link.blocklisted"]
    assert listed.message == "spammy-shop.test on lintbl.test (127.0.1.2: listed)"
    assert listed.where.line == 3
    unknown = by_code["link.blocklist_unknown"].message
    assert "refused the query for refused-shop.test" in unknown and "timeout" in unknown
    assert by_code["link.blocklist_unknown"].points == 0


async def test_blocklists_through_lint(resolver: Resolver) -> None:
    message = parse_template(
        page("https://www.spammy-shop.test/deal"),
        html=True,
        headers=HEADERS,
        text_alternative=f"Unsubscribe: {WWW}/u/1",
    )
    report = await lint(message, network=Network(resolver, uri_blocklists=["lintbl.test"]))
    assert report.codes == {"link.blocklisted"}
    assert report.verdict == "fail" and report.score == 10
