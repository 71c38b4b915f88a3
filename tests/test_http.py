"""The outbound HTTP seam against a real local HTTPS server and the real test DNS server."""

from __future__ import annotations

import asyncio
import gzip
import time
from collections.abc import AsyncIterator, Iterator

import httpcore
import pytest

from deliverwatch.dns import Resolver
from deliverwatch.http import Fetcher, HttpSettings, _PinnedBackend, non_public_reason, redact
from tests.servers.dnsserver import DNSServer
from tests.servers.https import HTTPSServer, trusting_settings

WEB = "https://web.mtasts.test"
HOSTS = [
    "web.mtasts.test",
    "also-web.mtasts.test",
    "mixed.mtasts.test",
    "mapped.mtasts.test",
    "nowhere.mtasts.test",
]  # wrongcert.mtasts.test is left out on purpose


@pytest.fixture(scope="module")
def https_server() -> Iterator[HTTPSServer]:
    with HTTPSServer(HOSTS) as server:
        server.route("web.mtasts.test", "/hello", "hello world")
        server.route("*", "/hello", "hello from elsewhere")
        server.route("web.mtasts.test", "/big", b"x" * 600_000)
        server.route("web.mtasts.test", "/endless", behaviour="endless")
        server.route("web.mtasts.test", "/drip", behaviour="drip")
        server.route("web.mtasts.test", "/hang", behaviour="hang")
        server.route("web.mtasts.test", "/r1", status=302, headers={"Location": "/r2"})
        server.route(
            "web.mtasts.test",
            "/r2",
            status=301,
            headers={"Location": "https://also-web.mtasts.test/hello"},
        )
        server.route("web.mtasts.test", "/loop", status=302, headers={"Location": "/loop"})
        server.route("web.mtasts.test", "/badloc", status=302, headers={"Location": "https://[bad"})
        server.route(
            "web.mtasts.test",
            "/down",
            status=302,
            headers={"Location": "http://web.mtasts.test/hello"},
        )
        server.route(
            "web.mtasts.test",
            "/to-nowhere",
            status=307,
            headers={"Location": "https://nowhere.mtasts.test/hello"},
        )
        server.route(
            "web.mtasts.test",
            "/gzip",
            gzip.compress(b"z" * 1000),
            headers={"Content-Encoding": "gzip"},
        )
        yield server


settings = trusting_settings


@pytest.fixture
async def fetcher(resolver: Resolver, https_server: HTTPSServer) -> AsyncIterator[Fetcher]:
    async with Fetcher(resolver, settings(https_server)) as f:
        yield f


async def test_get_resolves_through_our_dns_and_verifies_tls(
    fetcher: Fetcher, dns_server: DNSServer
) -> None:
    result = await fetcher.get(f"{WEB}/hello")
    assert result.ok, result.error
    assert (result.status_code, result.body, result.media_type) == (
        200,
        b"hello world",
        "text/plain",
    )
    assert result.url == f"{WEB}/hello"
    # .test names exist only in the test DNS server: the system resolver was not used
    assert any(q[:2] == ("web.mtasts.test", "A") for q in dns_server.queries)


async def test_http_error_status_is_an_error_with_status(fetcher: Fetcher) -> None:
    result = await fetcher.get(f"{WEB}/nope")
    assert not result.ok
    assert result.status_code == 404
    assert result.error == "HTTP 404 Not Found"


async def test_declared_length_over_limit_is_refused(fetcher: Fetcher) -> None:
    result = await fetcher.get(f"{WEB}/big")
    assert result.too_large and result.error == "body larger than 512000 bytes"
    small = await fetcher.get(f"{WEB}/hello", max_bytes=5)
    assert small.too_large and small.error == "body larger than 5 bytes"


async def test_endless_body_is_cut_off(fetcher: Fetcher) -> None:
    start = time.monotonic()
    result = await fetcher.get(f"{WEB}/endless", max_bytes=100_000)
    assert result.too_large
    assert result.body == b""
    assert time.monotonic() - start < 2


@pytest.mark.parametrize("path", ["/drip", "/hang"])
async def test_slow_server_is_bounded_by_one_deadline(
    resolver: Resolver, https_server: HTTPSServer, path: str
) -> None:
    async with Fetcher(resolver, settings(https_server, timeout=0.5)) as fetcher:
        start = time.monotonic()
        result = await fetcher.get(f"{WEB}{path}")
        elapsed = time.monotonic() - start
    assert "timed out" in result.error
    assert result.status_code is None
    assert 0.4 < elapsed < 2.0  # the drip sends a byte every 50 ms: only the deadline stops it


async def test_private_address_refused_without_connecting(
    resolver: Resolver, https_server: HTTPSServer
) -> None:
    hits = len(https_server.hits)
    async with Fetcher(resolver, settings(https_server, allow_private=False)) as fetcher:
        named = await fetcher.get(f"{WEB}/hello")
        literal = await fetcher.get("https://127.0.0.1/hello")
        mixed = await fetcher.get("https://mixed.mtasts.test/hello")
        mapped = await fetcher.get("https://mapped.mtasts.test/hello")
        v6 = await fetcher.get("https://[::1]/hello")
    assert named.error == (
        "web.mtasts.test resolves to 127.0.0.1, a loopback address; refusing to connect "
        "(private addresses are not allowed)"
    )
    assert "127.0.0.1, a loopback address" in literal.error
    assert "127.0.0.1, a loopback address" in mixed.error  # one bad address spoils the host
    assert "::ffff:127.0.0.1, a loopback address" in mapped.error
    assert "::1, a loopback address" in v6.error
    assert len(https_server.hits) == hits


async def test_ip_literal_allowed_when_private_allowed(fetcher: Fetcher) -> None:
    result = await fetcher.get("https://127.0.0.1/hello")  # the certificate lists 127.0.0.1
    assert result.ok, result.error
    assert result.body == b"hello from elsewhere"


async def test_dns_problems_are_reported(fetcher: Fetcher) -> None:
    no_address = await fetcher.get("https://nowhere.mtasts.test/")
    nx = await fetcher.get("https://absent.mtasts.test/")
    lame = await fetcher.get("https://lame.mtasts.test/")
    assert no_address.error == "nowhere.mtasts.test has no A or AAAA record"
    assert nx.error == "absent.mtasts.test has no A or AAAA record"
    assert lame.error.startswith("DNS lookup of lame.mtasts.test failed: A lame.mtasts.test: ")
    assert "servfail" in lame.error


async def test_redirect_not_followed_by_default(
    fetcher: Fetcher, https_server: HTTPSServer
) -> None:
    result = await fetcher.get(f"{WEB}/r1")
    assert result.status_code == 302
    assert result.error == f"HTTP 302 redirect to {WEB}/r2 not followed"
    assert ("web.mtasts.test", "/r2") not in https_server.hits


async def test_redirects_followed_when_asked(fetcher: Fetcher) -> None:
    result = await fetcher.get(f"{WEB}/r1", follow_redirects=True)
    assert result.ok, result.error
    assert result.url == "https://also-web.mtasts.test/hello"
    assert result.body == b"hello from elsewhere"


async def test_redirect_limits(fetcher: Fetcher) -> None:
    loop = await fetcher.get(f"{WEB}/loop", follow_redirects=True)
    down = await fetcher.get(f"{WEB}/down", follow_redirects=True)
    revetted = await fetcher.get(f"{WEB}/to-nowhere", follow_redirects=True)
    bad = await fetcher.get(f"{WEB}/badloc", follow_redirects=True)
    assert bad.error == "invalid host name '%5bbad'"
    assert loop.error == "more than 3 redirects"
    assert down.error == (
        "HTTP 302 redirect to http://web.mtasts.test/hello refused: HTTPS to HTTP"
    )
    assert revetted.error == "nowhere.mtasts.test has no A or AAAA record"
    assert revetted.url == "https://nowhere.mtasts.test/hello"


async def test_certificate_must_match_host_and_ca(
    resolver: Resolver, https_server: HTTPSServer, fetcher: Fetcher
) -> None:
    wrong_name = await fetcher.get("https://wrongcert.mtasts.test/hello")
    assert wrong_name.error.startswith("could not connect to wrongcert.mtasts.test: ")
    assert "certificate" in wrong_name.error.lower()
    async with Fetcher(resolver, settings(https_server, ca_bundle=None)) as default_ca:
        untrusted = await default_ca.get(f"{WEB}/hello")
    assert "CERTIFICATE_VERIFY_FAILED" in untrusted.error


async def test_refuses_encoded_bodies_and_odd_urls(fetcher: Fetcher) -> None:
    encoded = await fetcher.get(f"{WEB}/gzip")
    ftp = await fetcher.get("ftp://web.mtasts.test/x")
    relative = await fetcher.get("/just/a/path")
    assert encoded.error == "body is gzip-encoded; asked for identity"
    assert ftp.error == "unsupported URL scheme 'ftp'"
    assert relative.error == "unsupported URL scheme ''"
    port = await fetcher.get("https://web.mtasts.test:99999/")
    control = await fetcher.get("https://web.mtasts.test/\x00")
    assert port.error == "port 99999 out of range"
    assert control.error.startswith("invalid URL: ")


async def test_credentials_in_urls_are_not_echoed(fetcher: Fetcher) -> None:
    result = await fetcher.get("https://user:s3cret@web.mtasts.test/nope")
    assert "s3cret" not in result.url + result.error
    assert redact("https://user:s3cret@example.com/x") == "https://example.com/x"


async def test_concurrent_fetches(fetcher: Fetcher) -> None:
    results = await asyncio.gather(*(fetcher.get(f"{WEB}/hello") for _ in range(20)))
    assert all(r.ok and r.body == b"hello world" for r in results)


async def test_backend_never_connects_to_unvetted_hosts() -> None:
    backend = _PinnedBackend({}, 443)
    with pytest.raises(httpcore.ConnectError, match="not vetted"):
        await backend.connect_tcp("web.mtasts.test", 443)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),  # cloud metadata endpoints
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("100.64.0.1", "non-global"),
        ("::1", "loopback"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("::ffff:10.0.0.1", "private"),
        ("8.8.8.8", None),
        ("2001:4860:4860::8888", None),
    ],
)
def test_non_public_reason(address: str, reason: str | None) -> None:
    assert non_public_reason(address) == reason


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="timeout"):
        HttpSettings(timeout=0)
    with pytest.raises(ValueError, match="max_bytes"):
        HttpSettings(max_bytes=0)
    with pytest.raises(ValueError, match="https_port"):
        HttpSettings(https_port=70000)
