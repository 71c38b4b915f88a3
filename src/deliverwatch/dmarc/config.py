"""The ``dmarc:`` config section: the IMAP mailbox reports arrive in (polled by the service).

The password is given inline or as ``password_file`` (read once at load, trailing newline
stripped) and kept out of reprs and of ``config validate`` output.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from deliverwatch.config import _Model, read_secret_files


class MailboxSettings(_Model):
    """An IMAP mailbox receiving rua/ruf reports. ``tls: true`` is implicit TLS (port 993),
    always with the server's certificate verified (against ``ca_bundle`` when given)."""

    host: str = Field(min_length=1)
    port: int | None = Field(None, ge=1, le=65535)
    tls: bool = True
    starttls: bool = False
    ca_bundle: str | None = None
    username: str = Field(min_length=1)
    password: str | None = Field(None, repr=False, exclude=True)
    password_file: str | None = None
    folder: str = Field("INBOX", min_length=1)
    processed_folder: str | None = "Processed"
    error_folder: str | None = "Errors"
    delete: bool = False
    batch_size: int = Field(200, ge=1, le=100_000)
    timeout: float = Field(60.0, gt=0, le=3600)

    @model_validator(mode="before")
    @classmethod
    def _read_password_file(cls, data: Any) -> Any:
        return read_secret_files(data, ("password",))

    @model_validator(mode="after")
    def _sane(self) -> MailboxSettings:
        if self.password is None:
            raise ValueError("password or password_file is required")
        if self.tls and self.starttls:
            raise ValueError("tls (implicit TLS) and starttls exclude each other")
        if self.processed_folder is not None and self.processed_folder == self.folder:
            raise ValueError("processed_folder must differ from folder")
        if self.error_folder is not None and self.error_folder == self.folder:
            raise ValueError("error_folder must differ from folder")
        return self

    @property
    def effective_port(self) -> int:
        return self.port or (993 if self.tls else 143)


class DmarcSettings(_Model):
    """DMARC report intake by the service."""

    mailbox: MailboxSettings | None = None
