"""The one small interface every ESP module implements: verify a request, parse a payload.

A provider module holds everything about one ESP (payload shape, signature scheme, event-name
mapping) and nothing else: no I/O but through the :class:`VerifyContext` it is handed, so
parsing and verification are testable with recorded payloads and a moved clock.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Any, ClassVar

from deliverwatch.events.model import Event


class WebhookError(Exception):
    """A request the webhook endpoint refuses; ``status`` is the HTTP status to answer."""

    status: int = 400

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PayloadError(WebhookError):
    """The body is not a payload of this provider (400): nothing from it is stored."""

    status = 400


class SignatureError(WebhookError):
    """Missing credentials answer 401, wrong, stale or replayed ones 403."""

    def __init__(self, reason: str, *, missing: bool = False) -> None:
        super().__init__(reason)
        self.status = 401 if missing else 403


@dataclass(frozen=True, slots=True)
class SourceSettings:
    """What a configured webhook source tells its provider (see ``sources:`` in config)."""

    name: str
    provider: str
    sending_domain: str | None = None
    secret: str | None = None  # HMAC / signing key (Mailgun, Mandrill, Resend/Svix)
    public_key: str | None = None  # SendGrid's ECDSA verification key (base64 DER or PEM)
    username: str | None = None  # basic auth (Postmark, SparkPost, Mailjet, Brevo, generic)
    password: str | None = None
    token: str | None = None  # bearer token (SparkPost, Brevo, generic)
    url: str | None = None  # the public webhook URL, for schemes that sign it (Mandrill)
    topic_arns: tuple[str, ...] = ()  # accepted SNS topics (SES)
    max_age_seconds: int = 300  # older signed timestamps are stale


def file_source(provider: str, domain: str | None = None) -> SourceSettings:
    """The settings of a file import that names no configured source."""
    domain = domain.lower() if domain else None
    return SourceSettings(name=f"file:{provider}", provider=provider, sending_domain=domain)


@dataclass(frozen=True, slots=True)
class WebhookRequest:
    body: bytes
    headers: Mapping[str, str]  # keys lower-case
    url: str = ""
    content_type: str = ""

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class VerifyContext:
    """The I/O a verification may need, injected so tests move time and serve certificates."""

    now: Callable[[], datetime]
    #: Records a one-time token; returns False when it was seen before (a replay). The
    #: datetime is when the token expires: after it the signed timestamp is stale anyway, so
    #: the token need not be kept longer.
    remember_token: Callable[[str, datetime], bool]
    #: Fetches a URL through the outbound HTTP seam (SNS signing certificates).
    fetch: Callable[[str], Awaitable[bytes]] | None = None
    cache: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Control:
    """A provider message that is not an event but asks for an action (SNS subscription)."""

    kind: str  # "subscription_confirmation" | "unsubscribe_confirmation"
    url: str  # the URL to GET to confirm
    topic_arn: str = ""


@dataclass(frozen=True, slots=True)
class Parsed:
    events: list[Event]
    control: Control | None = None


class Provider(ABC):
    name: ClassVar[str]
    #: Whether verify() checks a signature (False: the source must be trusted some other way).
    signed: ClassVar[bool] = True

    @abstractmethod
    async def verify(
        self, request: WebhookRequest, source: SourceSettings, ctx: VerifyContext
    ) -> None:
        """Raise :class:`SignatureError` unless the request is authentic, fresh and new."""

    @abstractmethod
    def parse(self, request: WebhookRequest, source: SourceSettings) -> Parsed:
        """All events of the request, or :class:`PayloadError`: never a partial list."""

    def iter_file(self, stream: IO[bytes], source: SourceSettings) -> Iterator[Event]:
        """Events of a saved or exported file, read incrementally so memory stays bounded.

        Files are trusted (an operator chose them), so nothing is verified. Unlike a webhook
        batch a file is not all-or-nothing: the events before a bad item have been yielded
        when :class:`PayloadError` (naming the item and line) is raised.
        """
        raise PayloadError(f"{self.name} events cannot be read from files")
