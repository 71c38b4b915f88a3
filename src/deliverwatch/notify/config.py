"""The ``notifications:`` section: where messages go and how hard delivery tries.

Each channel is one entry of ``channels:`` with a ``type`` that selects its keys (a pydantic
discriminated union, so an error names the channel type's own keys). Secrets (webhook URLs
that embed a token, signing secrets, passwords, routing keys) are ``SecretStr``: shown as
``**********`` in reprs, logs and ``config validate`` output. Each may be given as
``<key>_file``: the file is read once at start, its newline stripped.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from deliverwatch.config import StrList, _Model, read_secret_files

#: Keys that may be given as ``<key>_file`` in any channel.
FILE_KEYS = ("url", "secret", "password", "routing_key", "token")
PAGERDUTY_EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"

_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


def _http_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    return value


def _secret_http_url(value: SecretStr) -> SecretStr:
    _http_url(value.get_secret_value())
    return value


class _Channel(_Model):
    name: str = Field(pattern=_NAME)
    timeout: float = Field(10.0, gt=0, le=120, description="seconds per attempt")

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, data: Any) -> Any:
        return read_secret_files(data, FILE_KEYS)


class SlackChannelConfig(_Channel):
    """A Slack incoming webhook (the URL is the credential)."""

    type: Literal["slack"]
    url: SecretStr

    _url = field_validator("url")(_secret_http_url)


class EmailChannelConfig(_Channel):
    """SMTP submission: STARTTLS on 587 by default, implicit TLS (``tls: true``) on 465."""

    type: Literal["email"]
    host: str = Field(min_length=1)
    port: int | None = Field(None, ge=1, le=65535)
    starttls: bool = True
    tls: bool = False
    username: str | None = None
    password: SecretStr | None = None
    from_: str = Field(alias="from", min_length=3)
    to: StrList = Field(min_length=1)
    subject_prefix: str = "[deliverwatch]"
    ca_bundle: str | None = None

    @model_validator(mode="after")
    def _one_tls_mode(self) -> EmailChannelConfig:
        if self.tls and self.starttls:
            # tls: implicit TLS from the first byte; starttls defaults on, so turning tls on
            # means "not STARTTLS" unless both were asked for explicitly.
            object.__setattr__(self, "starttls", False)
        if self.password is not None and self.username is None:
            raise ValueError("password needs username")
        return self

    @property
    def effective_port(self) -> int:
        return self.port or (465 if self.tls else 587)


class WebhookChannelConfig(_Channel):
    """A generic JSON webhook, signed with HMAC-SHA256 when ``secret`` is set."""

    type: Literal["webhook"]
    url: SecretStr
    secret: SecretStr | None = None
    headers: dict[str, SecretStr] = Field(default_factory=dict)

    _url = field_validator("url")(_secret_http_url)


class PagerDutyChannelConfig(_Channel):
    """PagerDuty Events API v2 (an integration's routing key)."""

    type: Literal["pagerduty"]
    routing_key: SecretStr = Field(min_length=1)
    url: str = PAGERDUTY_EVENTS_URL

    _url = field_validator("url")(_http_url)


class TeamsChannelConfig(_Channel):
    """A Microsoft Teams Workflows ("Post to a channel when a webhook request is received") URL."""

    type: Literal["teams"]
    url: SecretStr

    _url = field_validator("url")(_secret_http_url)


class AlertmanagerChannelConfig(_Channel):
    """Prometheus Alertmanager instances; every one is sent each alert (as Prometheus does)."""

    type: Literal["alertmanager"]
    urls: StrList = Field(default_factory=list)
    url: str | None = None
    token: SecretStr | None = None
    firing_ttl_seconds: int = Field(86_400, ge=300, le=30 * 86_400)

    @model_validator(mode="after")
    def _some_url(self) -> AlertmanagerChannelConfig:
        for url in self.all_urls:
            _http_url(url)
        if not self.all_urls:
            raise ValueError("give url or urls")
        return self

    @property
    def all_urls(self) -> list[str]:
        return ([self.url] if self.url else []) + list(self.urls)


ChannelConfig = Annotated[
    SlackChannelConfig
    | EmailChannelConfig
    | WebhookChannelConfig
    | PagerDutyChannelConfig
    | TeamsChannelConfig
    | AlertmanagerChannelConfig,
    Field(discriminator="type"),
]
CHANNEL_TYPES = ("slack", "email", "webhook", "pagerduty", "teams", "alertmanager")


class DeliverySettings(_Model):
    """The outbox's retry policy (docs/notifications.md, "Retries")."""

    max_attempts: int = Field(100, ge=1, le=10_000)
    max_age_seconds: int = Field(86_400, ge=60, le=30 * 86_400)
    base_backoff_seconds: float = Field(10.0, gt=0, le=3600)
    max_backoff_seconds: float = Field(600.0, gt=0, le=86_400)
    max_retry_after_seconds: int = Field(3600, ge=1, le=86_400)
    lease_seconds: int = Field(300, ge=10, le=86_400)
    batch_size: int = Field(100, ge=1, le=10_000)
    max_response_bytes: int = Field(65_536, ge=1024, le=10_000_000)
    keep_days: int = Field(30, ge=1, le=3650)

    @model_validator(mode="after")
    def _ordered(self) -> DeliverySettings:
        if self.base_backoff_seconds > self.max_backoff_seconds:
            raise ValueError("base_backoff_seconds must not be more than max_backoff_seconds")
        return self


class NotificationSettings(_Model):
    """``notifications:``: the channels alert routes name, and the delivery policy."""

    dashboard_url: str | None = None
    channels: list[ChannelConfig] = Field(default_factory=list)
    digest_channels: StrList = Field(default_factory=list)
    delivery: DeliverySettings = DeliverySettings()

    @model_validator(mode="after")
    def _unique_names(self) -> NotificationSettings:
        names = [c.name for c in self.channels]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"channels: duplicate name(s) {', '.join(duplicated)}")
        unknown = sorted(set(self.digest_channels) - set(names))
        if unknown:
            raise ValueError(f"digest_channels: unknown channel(s) {', '.join(unknown)}")
        return self

    def channel(self, name: str) -> ChannelConfig | None:
        return next((c for c in self.channels if c.name == name), None)

    @property
    def channel_names(self) -> list[str]:
        return [c.name for c in self.channels]


__all__ = [
    "CHANNEL_TYPES",
    "AlertmanagerChannelConfig",
    "ChannelConfig",
    "DeliverySettings",
    "EmailChannelConfig",
    "NotificationSettings",
    "PagerDutyChannelConfig",
    "SlackChannelConfig",
    "TeamsChannelConfig",
    "WebhookChannelConfig",
]
