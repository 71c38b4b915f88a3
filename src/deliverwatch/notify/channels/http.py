"""HTTP for the webhook-style channels: one bounded POST and the status → error mapping.

Notification targets are the operator's own configuration, and some are private on purpose
(an Alertmanager or a receiver inside the network), so unlike :mod:`deliverwatch.http` these
requests may go to any address. They are still bounded: a per-attempt deadline covering
connect, send and the whole response, a cap on the response size read, no redirects (a
webhook that redirects is misconfigured, and following it would re-send the body elsewhere)
and no proxy settings from the environment.
"""

from __future__ import annotations

import asyncio
import email.utils
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from deliverwatch import __version__
from deliverwatch.notify.channels.base import PermanentError, TemporaryError

USER_AGENT = f"deliverwatch/{__version__}"
#: 4xx statuses that mean "later" rather than "never" (RFC 9110 §15.5.9; RFC 6585 §4).
RETRYABLE_4XX = frozenset({408, 425, 429})
ERROR_BODY_CHARS = 200


@dataclass(frozen=True)
class Reply:
    status: int
    reason: str
    body: bytes
    retry_after: float | None


class HttpPoster:
    """Pooled connections for one delivery pass, shared by its channels.

    Requests go straight to an ``httpx`` transport rather than through ``httpx.AsyncClient``,
    because the client logs every request's full URL at INFO level, and Slack, Teams and many
    webhook URLs are credentials. Use as ``async with HttpPoster() as poster``.
    """

    def __init__(self) -> None:
        self._transport = httpx.AsyncHTTPTransport(retries=0)

    async def __aenter__(self) -> HttpPoster:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def post(
        self,
        url: str,
        body: bytes,
        *,
        headers: dict[str, str] | None = None,
        timeout: float,  # noqa: ASYNC109 - one deadline for the whole exchange, applied below
        max_bytes: int = 65_536,
        now: datetime | None = None,
    ) -> Reply:
        """POST ``body``; returns the reply of a 2xx, raises the mapped error for anything
        else. Network failures and timeouts are temporary. The response body is read up to
        ``max_bytes`` (it is only ever shown, cut, in an error)."""
        sent = {"User-Agent": USER_AGENT, "Content-Type": "application/json"}
        sent.update(headers or {})
        try:
            request = httpx.Request(
                "POST",
                url,
                headers=sent,
                content=body,
                extensions={"timeout": httpx.Timeout(timeout).as_dict()},
            )
            async with asyncio.timeout(timeout):
                response = await self._transport.handle_async_request(request)
                try:
                    data = await _read(response, max_bytes)
                finally:
                    await response.aclose()
        except TimeoutError:
            raise TemporaryError(f"timed out after {timeout:g}s") from None
        except httpx.InvalidURL:
            raise PermanentError("invalid URL") from None
        except httpx.UnsupportedProtocol:
            raise PermanentError("unsupported URL scheme") from None
        except httpx.HTTPError as exc:
            raise TemporaryError(_describe(exc)) from None
        reply = Reply(
            response.status_code,
            response.reason_phrase,
            data,
            parse_retry_after(response.headers.get("retry-after"), now or datetime.now(UTC)),
        )
        raise_for_status(reply)
        return reply


def raise_for_status(reply: Reply) -> None:
    """2xx is success; 408/425/429 and 5xx are temporary; other statuses are permanent."""
    if 200 <= reply.status < 300:
        return
    message = f"HTTP {reply.status} {reply.reason}".rstrip()
    excerpt = reply.body[:ERROR_BODY_CHARS].decode("utf-8", "replace").strip()
    if excerpt:
        message += f": {' '.join(excerpt.split())}"
    if reply.status in RETRYABLE_4XX or reply.status >= 500:
        raise TemporaryError(message, retry_after=reply.retry_after)
    if 300 <= reply.status < 400:
        raise PermanentError(message + " (redirects are not followed)")
    raise PermanentError(message)


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date
    (RFC 9110 §10.2.3); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


async def _read(response: httpx.Response, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        chunks.append(chunk[: limit - size])
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(chunks)


def _describe(exc: httpx.HTTPError) -> str:
    # str(exc) of httpx errors does not include the URL; the request's URL is never shown.
    kind = exc.__class__.__name__
    detail = str(exc)
    return f"{kind}: {detail}" if detail else kind


__all__ = ["RETRYABLE_4XX", "HttpPoster", "Reply", "parse_retry_after", "raise_for_status"]
