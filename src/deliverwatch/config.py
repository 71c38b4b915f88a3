"""``deliverwatch.yaml``: pydantic models, environment overrides and ``*_FILE`` secrets.

Every command works without a config file (all keys have defaults). Precedence, lowest first:
built-in defaults, the YAML file, environment variables, command-line flags.

Environment overrides use the ``DELIVERWATCH_`` prefix and ``__`` between nested keys::

    DELIVERWATCH_DNS__TIMEOUT=5            # dns.timeout
    DELIVERWATCH_DNS__NAMESERVERS=1.1.1.1,9.9.9.9
    DELIVERWATCH_DATABASE_URL_FILE=/run/secrets/db   # any key: *_FILE reads the value from a file

Errors name the offending key (``dns.timeout: Input should be greater than 0``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from deliverwatch.configfile import DEFAULT_DATABASE_URL, ENV_NOT_SETTINGS, ENV_PREFIX, config_path

if TYPE_CHECKING:
    from deliverwatch.events.providers.base import SourceSettings


DEFAULT_DNSBL_ZONES = ["zen.spamhaus.org", "bl.spamcop.net", "b.barracudacentral.org"]
DEFAULT_DBL_ZONES = ["dbl.spamhaus.org", "multi.surbl.org"]


def _split_commas(value: Any) -> Any:
    """Lists given as one string (environment overrides) are comma-separated."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


StrList = Annotated[list[str], BeforeValidator(_split_commas)]

_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def _duration(value: Any) -> Any:
    """``30s``, ``15m``, ``1h``, ``7d``, ``2w``, or a number of seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text[-1:] in _DURATION_UNITS and text[:-1].strip().replace(".", "", 1).isdigit():
            return timedelta(seconds=float(text[:-1]) * _DURATION_UNITS[text[-1]])
        if text.replace(".", "", 1).isdigit():
            return timedelta(seconds=float(text))
    raise ValueError(f"{value!r} is not a duration like 30s, 15m, 1h, 7d or 2w")


#: A length of time in config: ``30s``, ``15m``, ``1h``, ``7d``, ``2w`` or plain seconds.
Duration = Annotated[timedelta, BeforeValidator(_duration)]


class ConfigError(Exception):
    """A config file or override that cannot be used; the message names the key."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def read_secret_files(data: Any, keys: Iterable[str]) -> Any:
    """``<key>_file`` → ``<key>``, read from that file with surrounding whitespace dropped:
    for the ``mode="before"`` validator of every section holding secrets. Giving both is an
    error; a file that cannot be read names the key."""
    if not isinstance(data, dict):
        return data
    data = dict(data)
    for key in keys:
        path = data.pop(f"{key}_file", None)
        if path is None:
            continue
        if data.get(key) is not None:
            raise ValueError(f"give {key} or {key}_file, not both")
        try:
            data[key] = Path(path).read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ValueError(f"{key}_file: cannot read {path}: {exc.strerror or exc}") from exc
    return data


class DnsSettings(_Model):
    """How lookups are made (the DNS seam)."""

    nameservers: StrList = Field(default_factory=list)
    timeout: float = Field(2.0, gt=0, le=60)
    retries: int = Field(1, ge=0, le=5)
    concurrency: int = Field(256, ge=1, le=10_000)

    @field_validator("nameservers")
    @classmethod
    def _valid(cls, value: list[str]) -> list[str]:
        from deliverwatch.dns import Nameserver  # dnspython: not for commands without DNS

        for server in value:
            try:
                Nameserver.parse(server)
            except ValueError as exc:
                raise ValueError(
                    f"{server!r} is not an IP address with an optional :port ({exc})"
                ) from exc
        return value


class HttpSettings(_Model):
    """Outbound HTTPS fetches (MTA-STS policy, BIMI logo): bounded, private addresses refused."""

    enabled: bool = True
    timeout: float = Field(10.0, gt=0, le=120)
    max_bytes: int = Field(512_000, ge=1024, le=50_000_000)
    allow_private: bool = False
    ca_bundle: str | None = None
    https_port: int = Field(443, ge=1, le=65535)


class BlocklistSettings(_Model):
    dnsbl: StrList = Field(default_factory=lambda: list(DEFAULT_DNSBL_ZONES))
    dbl: StrList = Field(default_factory=lambda: list(DEFAULT_DBL_ZONES))


class DomainConfig(_Model):
    """A monitored sending domain."""

    name: str = Field(min_length=1)
    dkim_selectors: StrList = Field(default_factory=list)
    sending_ips: StrList = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.strip().rstrip(".").lower()

    @field_validator("sending_ips")
    @classmethod
    def _ips(cls, value: list[str]) -> list[str]:
        import ipaddress

        for ip in value:
            ipaddress.ip_address(ip)
        return value


class CheckSettings(_Model):
    """Defaults of ``deliverwatch check``."""

    concurrency: int = Field(64, ge=1, le=5000, description="domains audited at once")
    fail_on: Literal["error", "warning", "never"] = "error"
    common_selectors: bool = True


class RetentionSettings(_Model):
    """How long the event store keeps raw events and each granularity of rollups."""

    raw_events_days: int = Field(30, ge=1, le=3650)
    minute_rollup_days: int = Field(7, ge=1, le=3650)
    hour_rollup_days: int = Field(90, ge=1, le=3650)
    rollup_months: int = Field(13, ge=1, le=1200)

    @model_validator(mode="after")
    def _ordered(self) -> RetentionSettings:
        if self.minute_rollup_days > self.hour_rollup_days:
            raise ValueError("minute_rollup_days must not be more than hour_rollup_days")
        return self


SECRET_KEYS = ("secret", "public_key", "password", "token")


class SourceConfig(_Model):
    """A webhook source: ``POST /webhooks/<name>`` takes this ESP's payloads.

    Secrets may be given inline or as ``<key>_file`` (read once at start, newline stripped).
    """

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    provider: str
    sending_domain: str | None = None
    secret: str | None = Field(None, repr=False)
    public_key: str | None = Field(None, repr=False)
    username: str | None = None
    password: str | None = Field(None, repr=False)
    token: str | None = Field(None, repr=False)
    url: str | None = None
    topic_arns: StrList = Field(default_factory=list)
    max_age_seconds: int = Field(300, ge=10, le=86_400)

    @model_validator(mode="before")
    @classmethod
    def _read_secret_files(cls, data: Any) -> Any:
        return read_secret_files(data, SECRET_KEYS)

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, value: str) -> str:
        from deliverwatch.events.providers import PROVIDERS

        if value not in PROVIDERS:
            raise ValueError(f"unknown provider {value!r}; known: {', '.join(PROVIDERS)}")
        return value

    def settings(self) -> SourceSettings:
        from deliverwatch.events.providers.base import SourceSettings

        return SourceSettings(
            name=self.name,
            provider=self.provider,
            sending_domain=self.sending_domain,
            secret=self.secret,
            public_key=self.public_key,
            username=self.username,
            password=self.password,
            token=self.token,
            url=self.url,
            topic_arns=tuple(self.topic_arns),
            max_age_seconds=self.max_age_seconds,
        )


class ServerSettings(_Model):
    """``deliverwatch serve``: where it listens and what it accepts."""

    host: str = "127.0.0.1"
    port: int = Field(8025, ge=1, le=65535)
    max_body_bytes: int = Field(10_000_000, ge=1024, le=1_000_000_000)
    #: Keep the overview of every domain this long between changes (0: never keep it).
    read_cache_seconds: float = Field(5.0, ge=0, le=300)
    #: Server processes (uvicorn workers). Python runs one request at a time per process; more
    #: processes use more cores. Each has its own group-commit writer; one leads the scheduler.
    workers: int = Field(1, ge=1, le=64)
    #: Ask Prometheus for a bearer token on /metrics too (scrape config: ``authorization``).
    metrics_require_token: bool = False
    # Signs dashboard session cookies; unset: one is generated once and kept in the store.
    session_secret: str | None = Field(None, repr=False, min_length=16)

    @model_validator(mode="before")
    @classmethod
    def _read_session_secret_file(cls, data: Any) -> Any:
        return read_secret_files(data, ("session_secret",))


class LintSettings(_Model):
    """Defaults of ``deliverwatch lint`` (docs/lint.md has the codes and the scale)."""

    kind: Literal["marketing", "transactional"] = "marketing"
    from_address: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    warn_over: float = Field(2.0, ge=0)
    fail_over: float = Field(9.0, ge=0)
    weights: dict[str, int] = Field(default_factory=dict)
    check_links: bool = False
    uri_blocklists: StrList = Field(default_factory=lambda: list(DEFAULT_DBL_ZONES))
    verify_dkim: bool = True
    max_link_domains: int = Field(5, ge=1, le=1000)
    shorteners: StrList = Field(default_factory=list)

    @field_validator("weights")
    @classmethod
    def _known_codes(cls, value: dict[str, int]) -> dict[str, int]:
        from deliverwatch.content.catalogue import CATALOGUE

        unknown = sorted(set(value) - set(CATALOGUE))
        if unknown:
            raise ValueError(f"unknown lint code(s): {', '.join(unknown)}")
        negative = sorted(code for code, points in value.items() if not 0 <= points <= 1000)
        if negative:
            raise ValueError(f"points must be 0-1000: {', '.join(negative)}")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> LintSettings:
        if self.warn_over > self.fail_over:
            raise ValueError("warn_over must not be more than fail_over")
        return self


from deliverwatch.alerts.config import AlertingSettings  # noqa: E402  (needs _Model)
from deliverwatch.dmarc.config import DmarcSettings  # noqa: E402  (needs _Model)
from deliverwatch.history.config import HistorySettings  # noqa: E402  (needs _Model)
from deliverwatch.notify.config import NotificationSettings  # noqa: E402  (needs _Model)
from deliverwatch.placement.config import PlacementSettings  # noqa: E402  (needs _Model)
from deliverwatch.scheduler.config import SchedulerSettings  # noqa: E402  (needs _Model)


class Config(_Model):
    database_url: str = DEFAULT_DATABASE_URL
    dns: DnsSettings = DnsSettings()
    http: HttpSettings = HttpSettings()
    blocklists: BlocklistSettings = BlocklistSettings()
    check: CheckSettings = CheckSettings()
    retention: RetentionSettings = RetentionSettings()
    server: ServerSettings = ServerSettings()
    lint: LintSettings = LintSettings()
    placement: PlacementSettings = PlacementSettings()
    domains: list[DomainConfig] = Field(default_factory=list)
    sources: list[SourceConfig] = Field(default_factory=list)
    notifications: NotificationSettings = NotificationSettings()
    scheduler: SchedulerSettings = SchedulerSettings()
    dmarc: DmarcSettings = DmarcSettings()
    history: HistorySettings = HistorySettings()
    alerting: AlertingSettings = AlertingSettings()

    @model_validator(mode="after")
    def _unique_sources(self) -> Config:
        names = [s.name for s in self.sources]
        duplicated = sorted({n for n in names if names.count(n) > 1})
        if duplicated:
            raise ValueError(f"sources: duplicate name(s) {', '.join(duplicated)}")
        return self

    def source(self, name: str) -> SourceConfig | None:
        return next((s for s in self.sources if s.name == name), None)

    def domain(self, name: str) -> DomainConfig:
        """The config of ``name``, or an empty one for a domain given only on the command line."""
        name = name.strip().rstrip(".").lower()
        return next((d for d in self.domains if d.name == name), DomainConfig(name=name))


def load_config(path: Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read ``path`` (or ./deliverwatch.yaml if present), apply env overrides, validate."""
    env = os.environ if env is None else env
    path = config_path(path, env)
    data: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config {path}: {exc.strerror or exc}") from exc
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of keys")
        data = loaded or {}
    _apply_env(data, env)
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        where = f"{path}: " if path else ""
        raise ConfigError(where + format_validation_error(exc)) from None


def format_validation_error(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"]) or "(top level)"
        message = "unknown key" if error["type"] == "extra_forbidden" else error["msg"]
        lines.append(f"{key}: {message}")
    return "; ".join(lines)


def _apply_env(data: dict[str, Any], env: Mapping[str, str]) -> None:
    for name, value in sorted(env.items()):
        if not name.startswith(ENV_PREFIX) or name in ENV_NOT_SETTINGS:
            continue
        key = name.removeprefix(ENV_PREFIX).lower()
        if key.endswith("_file"):
            try:
                value = Path(value).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ConfigError(f"{name}: cannot read {value}: {exc.strerror or exc}") from exc
            key = key.removesuffix("_file")
        parts = key.split("__")
        target = data
        for part in parts[:-1]:
            child = target.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"{name}: {part} is not a section")
            target = child
        target[parts[-1]] = value
