"""The one outbound HTTP seam: every fetch deliverwatch makes goes through :class:`Fetcher`.

Checks fetch URLs that domain owners (or attackers) publish in DNS — MTA-STS policies, BIMI
logos — so a fetch must not become a way to reach the machine's own network (SSRF) or to
exhaust it:

* host names resolve through our DNS seam (:class:`~deliverwatch.dns.Resolver`), never the
  system resolver, and every address is vetted: loopback, private, link-local, reserved,
  multicast and unspecified addresses are refused unless ``allow_private`` is set;
* the connection goes to the vetted address (pinned in the network backend) while TLS SNI
  and certificate checks use the host name, so DNS rebinding cannot swap the address between
  the check and the connect;
* bodies are streamed and cut off at ``max_bytes``; one deadline (``timeout``) covers DNS,
  connect, TLS, redirects and body, so a server dripping one byte a second cannot hold a run;
* redirects are off by default (RFC 8461 §3.3 forbids them for MTA-STS); when on, at most
  :data:`MAX_REDIRECTS` hops, each re-vetted, never from HTTPS down to HTTP.

Proxy environment variables are ignored on purpose: a proxy would resolve names itself and
defeat the pinning.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
import ssl
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Final

import httpcore
import httpx

from deliverwatch import __version__
from deliverwatch.dns import Resolver, normalize_name

log = logging.getLogger(__name__)

MAX_REDIRECTS: Final = 3
MAX_CONNECTIONS: Final = 64  # concurrent fetches per run; queued ones wait before their deadline
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\Z")


@dataclass(frozen=True)
class HttpSettings:
    """Limits for one run's fetches. ``https_port`` exists so tests can target a local server."""

    timeout: float = 10.0
    max_bytes: int = 512_000
    allow_private: bool = False
    ca_bundle: str | None = None
    https_port: int = 443

    def __post_init__(self) -> None:
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")
        if self.max_bytes <= 0:
            raise ValueError("max_bytes must be positive")
        if not 0 < self.https_port < 65536:
            raise ValueError("https_port out of range")


@dataclass(frozen=True)
class FetchResult:
    """The outcome of one fetch. ``error`` is ``""`` only for a complete 2xx response.

    Non-2xx responses keep their (bounded) body and status but carry ``error`` such as
    ``"HTTP 404 Not Found"``, so callers can report ``error`` as the reason in every case.
    """

    url: str
    status_code: int | None
    body: bytes
    content_type: str
    error: str
    too_large: bool = False

    @property
    def ok(self) -> bool:
        return not self.error

    @property
    def media_type(self) -> str:
        """``content_type`` without parameters, lower-case: ``"text/plain"``."""
        return self.content_type.split(";", 1)[0].strip().lower()


class FetchRefused(Exception):
    """A URL or address the fetcher will not contact; the message says why."""


def non_public_reason(address: str) -> str | None:
    """Why ``address`` is not a public unicast address (``"loopback"`` …), or None if it is."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # ::ffff:127.0.0.1 reaches 127.0.0.1
    checks = (
        ("loopback", ip.is_loopback),
        ("unspecified", ip.is_unspecified),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
        ("non-global", not ip.is_global),  # e.g. 100.64.0.0/10 shared address space
    )
    return next((label for label, hit in checks if hit), None)


def redact(url: str | httpx.URL) -> str:
    """The URL without user:password, for messages and logs."""
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return "<invalid URL>"
    if parsed.userinfo:
        parsed = parsed.copy_with(username=None, password=None)
    return str(parsed)


class Fetcher:
    """Bounded, pinned HTTPS GETs for one run; holds one ``httpx.AsyncClient``.

    Use as ``async with Fetcher(resolver, HttpSettings()) as fetcher: await fetcher.get(url)``.
    """

    def __init__(self, resolver: Resolver, settings: HttpSettings | None = None) -> None:
        self.resolver = resolver
        self.settings = settings or HttpSettings()
        self._pins: dict[str, tuple[str, ...]] = {}
        self._slots = asyncio.Semaphore(MAX_CONNECTIONS)
        pool = httpcore.AsyncConnectionPool(
            ssl_context=_ssl_context(self.settings.ca_bundle),
            max_connections=MAX_CONNECTIONS,
            max_keepalive_connections=MAX_CONNECTIONS // 4,
            keepalive_expiry=5.0,
            http1=True,
            http2=False,
            retries=0,
            network_backend=_PinnedBackend(self._pins, self.settings.https_port),
        )
        self._client = httpx.AsyncClient(
            transport=_PinnedTransport(pool),
            timeout=httpx.Timeout(self.settings.timeout),
            follow_redirects=False,
            trust_env=False,
            # identity: a compressed body could expand far past max_bytes in a single chunk
            headers={"User-Agent": f"deliverwatch/{__version__}", "Accept-Encoding": "identity"},
        )

    async def __aenter__(self) -> Fetcher:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    async def get(
        self, url: str, *, max_bytes: int | None = None, follow_redirects: bool = False
    ) -> FetchResult:
        """GET ``url``; never raises for network, DNS, TLS or HTTP problems (see ``error``)."""
        limit = self.settings.max_bytes if max_bytes is None else max_bytes
        shown = redact(url)
        async with self._slots:  # the deadline starts once a connection slot is free
            try:
                async with asyncio.timeout(self.settings.timeout):
                    result = await self._fetch(url, limit, follow_redirects)
            except TimeoutError:
                result = _failed(shown, f"timed out after {self.settings.timeout:g}s")
        log.debug("GET %s -> %s %s", shown, result.status_code, result.error or "ok")
        return result

    async def _fetch(self, url: str, limit: int, follow_redirects: bool) -> FetchResult:
        try:
            current = httpx.URL(url)
        except (httpx.InvalidURL, TypeError) as exc:
            return _failed(redact(url), f"invalid URL: {exc}")
        for hop in range(MAX_REDIRECTS + 1):
            shown = redact(current)
            try:
                await self._vet(current)
                async with self._client.stream("GET", current) as response:
                    if not response.is_redirect:
                        return await _read(response, shown, limit)
                    target = current.join(response.headers.get("location", ""))
                    redirect = f"HTTP {response.status_code} redirect to {redact(target)}"
                    if not follow_redirects:
                        return _failed(shown, f"{redirect} not followed", response)
                    if hop == MAX_REDIRECTS:
                        return _failed(shown, f"more than {MAX_REDIRECTS} redirects", response)
                    if current.scheme == "https" and target.scheme != "https":
                        return _failed(shown, f"{redirect} refused: HTTPS to HTTP", response)
                    current = target
            except FetchRefused as exc:
                return _failed(shown, str(exc))
            except httpx.InvalidURL as exc:  # a Location header that is no URL
                return _failed(shown, f"invalid redirect: {exc}")
            except httpx.HTTPError as exc:
                return _failed(shown, _describe(exc, current))
        raise AssertionError("unreachable")  # pragma: no cover - the loop always returns

    async def _vet(self, url: httpx.URL) -> None:
        """Resolve and check the URL's host, then pin its addresses for the network backend."""
        if url.scheme not in ("https", "http"):
            raise FetchRefused(f"unsupported URL scheme {url.scheme!r}")
        host = normalize_name(url.raw_host.decode("ascii"))  # IDNA form, as httpcore sees it
        if not host:
            raise FetchRefused("URL has no host")
        if url.port is not None and not 0 < url.port < 65536:
            raise FetchRefused(f"port {url.port} out of range")
        try:
            addresses: tuple[str, ...] = (str(ipaddress.ip_address(host)),)
        except ValueError:
            if len(host) > 253 or not all(_LABEL.match(label) for label in host.split(".")):
                raise FetchRefused(f"invalid host name {host[:80]!r}") from None
            addresses = await self._resolve(host)
        if not self.settings.allow_private:
            for address in addresses:
                reason = non_public_reason(address)
                if reason:
                    raise FetchRefused(
                        f"{host} resolves to {address}, a {reason} address; refusing to connect "
                        "(private addresses are not allowed)"
                    )
        self._pins[host] = addresses

    async def _resolve(self, host: str) -> tuple[str, ...]:
        a, aaaa = await self.resolver.addresses(host)
        addresses = a.records + aaaa.records  # IPv4 first: IPv6 is often unrouted
        if addresses:
            return addresses
        failed = [answer for answer in (a, aaaa) if answer.failed]
        if failed:
            raise FetchRefused(f"DNS lookup of {host} failed: {failed[0].describe()}")
        raise FetchRefused(f"{host} has no A or AAAA record")


def _ssl_context(ca_bundle: str | None) -> ssl.SSLContext:
    if ca_bundle:
        return ssl.create_default_context(cafile=ca_bundle)
    return httpx.create_ssl_context()


def _failed(url: str, error: str, response: httpx.Response | None = None) -> FetchResult:
    status = response.status_code if response is not None else None
    ctype = response.headers.get("content-type", "") if response is not None else ""
    return FetchResult(url, status, b"", ctype, error)


async def _read(response: httpx.Response, url: str, limit: int) -> FetchResult:
    """Stream the body up to ``limit`` bytes; refuse more without reading it all."""
    ctype = response.headers.get("content-type", "")
    status = response.status_code
    too_large = FetchResult(url, status, b"", ctype, f"body larger than {limit} bytes", True)
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        error = f"body is {encoding}-encoded; asked for identity"
        return FetchResult(url, status, b"", ctype, error)
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        size += len(chunk)
        if size > limit:
            return too_large
        chunks.append(chunk)
    error = "" if response.is_success else f"HTTP {status} {response.reason_phrase}".rstrip()
    return FetchResult(url, status, b"".join(chunks), ctype, error)


def _describe(exc: httpx.HTTPError, url: httpx.URL) -> str:
    detail = str(exc) or exc.__class__.__name__
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out: {detail}"
    if isinstance(exc, httpx.ConnectError):
        return f"could not connect to {url.host}: {detail}"
    return f"{exc.__class__.__name__}: {detail}"


# --- transport: httpx over an httpcore pool whose network backend connects to pinned IPs ----


class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connects to the addresses :meth:`Fetcher._vet` pinned for a host, never resolving it.

    httpcore hands us the URL's host name; TLS afterwards uses that same name for SNI and
    certificate verification, so pinning does not weaken verification.
    """

    def __init__(self, pins: Mapping[str, tuple[str, ...]], https_port: int) -> None:
        self._pins = pins
        self._https_port = https_port
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = self._pins.get(normalize_name(host))
        if not addresses:
            raise httpcore.ConnectError(f"{host} was not vetted; refusing to connect")
        if port == 443:
            port = self._https_port
        last: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("unix sockets are not used")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


# httpcore exception → httpx exception; subclasses before their bases.
_ERRORS: tuple[tuple[type[Exception], type[httpx.TransportError]], ...] = (
    (httpcore.ConnectTimeout, httpx.ConnectTimeout),
    (httpcore.ReadTimeout, httpx.ReadTimeout),
    (httpcore.WriteTimeout, httpx.WriteTimeout),
    (httpcore.PoolTimeout, httpx.PoolTimeout),
    (httpcore.TimeoutException, httpx.TimeoutException),
    (httpcore.ConnectError, httpx.ConnectError),
    (httpcore.ReadError, httpx.ReadError),
    (httpcore.WriteError, httpx.WriteError),
    (httpcore.NetworkError, httpx.NetworkError),
    (httpcore.RemoteProtocolError, httpx.RemoteProtocolError),
    (httpcore.LocalProtocolError, httpx.LocalProtocolError),
    (httpcore.ProtocolError, httpx.ProtocolError),
    (httpcore.UnsupportedProtocol, httpx.UnsupportedProtocol),
)


@contextlib.contextmanager
def _httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for core_type, httpx_type in _ERRORS:
            if isinstance(exc, core_type):
                raise httpx_type(str(exc)) from exc
        raise


class _ResponseStream(httpx.AsyncByteStream):
    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_errors():
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        close = getattr(self._stream, "aclose", None)
        if close is not None:
            with _httpx_errors():
                await close()


class _PinnedTransport(httpx.AsyncBaseTransport):
    """httpx's transport interface over our own pool (httpx's transport takes no backend)."""

    def __init__(self, pool: httpcore.AsyncConnectionPool) -> None:
        self._pool = pool

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        assert isinstance(request.stream, httpx.AsyncByteStream)
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _httpx_errors():
            response = await self._pool.handle_async_request(core_request)
        assert isinstance(response.stream, AsyncIterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


__all__ = [
    "MAX_REDIRECTS",
    "FetchRefused",
    "FetchResult",
    "Fetcher",
    "HttpSettings",
    "non_public_reason",
    "redact",
]
