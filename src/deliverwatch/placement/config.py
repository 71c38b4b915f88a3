"""The ``placement:`` config section: the SMTP relay, the seed mailboxes, timing and cleanup.

Key names follow issue 8 (``smtp``, ``from``, ``seeds[].imap``). Every secret is given inline
(``password``) or as ``password_file`` (read once at load, trailing newline stripped), and is
kept out of reprs, logs and JSON output (``Field(repr=False)``, ``exclude=True``).
"""

from __future__ import annotations

from datetime import timedelta
from email.utils import parseaddr
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from deliverwatch.config import Duration, _Model, read_secret_files

SECRET_KEYS = ("password", "private_key")


def _read_secret_files(data: Any, keys: tuple[str, ...] = SECRET_KEYS) -> Any:
    return read_secret_files(data, keys)


class _Secretive(_Model):
    @model_validator(mode="before")
    @classmethod
    def _files(cls, data: Any) -> Any:
        return _read_secret_files(data)


class SmtpSettings(_Secretive):
    """The relay the test message leaves through (the one real campaigns use)."""

    host: str = Field(min_length=1)
    port: int = Field(587, ge=1, le=65535)
    starttls: bool = True
    tls: bool = False  # implicit TLS (port 465)
    username: str | None = None
    password: str | None = Field(None, repr=False, exclude=True)
    timeout: float = Field(30.0, gt=0, le=600)
    verify_tls: bool = True
    local_hostname: str | None = None

    @model_validator(mode="after")
    def _one_tls(self) -> SmtpSettings:
        if self.tls and self.starttls:
            # `tls: true` alone is the common spelling of port 465; STARTTLS then is moot.
            object.__setattr__(self, "starttls", False)
        return self


class ImapSettings(_Secretive):
    """How to log into a seed mailbox. ``tls: true`` is implicit TLS (993)."""

    host: str = Field(min_length=1)
    port: int | None = Field(None, ge=1, le=65535)
    tls: bool = True
    starttls: bool = False
    username: str = Field(min_length=1)
    password: str | None = Field(None, repr=False, exclude=True)
    verify_tls: bool = True

    @property
    def effective_port(self) -> int:
        return self.port or (993 if self.tls else 143)


class SeedConfig(_Model):
    """One seed mailbox at a mailbox provider."""

    address: str = Field(min_length=3)
    provider: str = "other"
    imap: ImapSettings
    junk_folders: list[str] = Field(default_factory=list)

    @field_validator("address")
    @classmethod
    def _address(cls, value: str) -> str:
        _, address = parseaddr(value)
        if "@" not in address:
            raise ValueError(f"{value!r} is not an email address")
        return address


class DkimSettings(_Secretive):
    """Sign the test message like production mail is signed."""

    selector: str = Field(min_length=1)
    domain: str = Field(min_length=1)
    private_key: str | None = Field(None, repr=False, exclude=True)
    headers: list[str] = Field(
        default_factory=lambda: ["From", "To", "Subject", "Date", "Message-ID", "MIME-Version"]
    )

    @model_validator(mode="after")
    def _has_key(self) -> DkimSettings:
        if not self.private_key:
            raise ValueError("dkim needs private_key or private_key_file")
        return self


class PlacementSettings(_Model):
    """``placement:`` — seed-list tests (docs/placement.md)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    smtp: SmtpSettings | None = None
    from_: str | None = Field(None, alias="from")
    subject: str = "deliverwatch placement test"
    message_file: str | None = None
    seeds: list[SeedConfig] = Field(default_factory=list)
    dkim: DkimSettings | None = None
    timeout: float = Field(300.0, gt=0, le=3600)
    poll_interval: float = Field(2.0, gt=0, le=600)
    cleanup: Literal["delete", "move", "keep"] = "delete"
    cleanup_folder: str = "Trash"
    concurrency: int = Field(50, ge=1, le=1000)
    ca_bundle: str | None = None
    interval: Duration = timedelta(0)  # 0: not scheduled (CLI runs only)

    @field_validator("from_")
    @classmethod
    def _from(cls, value: str | None) -> str | None:
        if value is not None and "@" not in parseaddr(value)[1]:
            raise ValueError(f"{value!r} is not an address")
        return value

    @field_validator("interval")
    @classmethod
    def _interval(cls, value: timedelta) -> timedelta:
        if value and value < timedelta(minutes=5):
            raise ValueError("at least 5m between seed tests (or 0 for none)")
        return value

    @model_validator(mode="after")
    def _unique_seeds(self) -> PlacementSettings:
        addresses = [s.address.lower() for s in self.seeds]
        duplicated = sorted({a for a in addresses if addresses.count(a) > 1})
        if duplicated:
            raise ValueError(f"seeds: duplicate address(es) {', '.join(duplicated)}")
        return self

    def problems(self) -> list[str]:
        """What stops a run (config that is valid YAML but not runnable), for a clear exit 2."""
        found = []
        if self.smtp is None:
            found.append("placement.smtp is not set")
        if not self.from_:
            found.append("placement.from is not set")
        if not self.seeds:
            found.append("placement.seeds is empty")
        return found
