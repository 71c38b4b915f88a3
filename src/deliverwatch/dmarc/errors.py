"""Why a report was refused. Every error carries a one-line ``reason`` meant for the user;
the importer reports it next to the file name and goes on with the next report."""

from __future__ import annotations


class ReportError(Exception):
    """A report (or the file holding it) that cannot be read."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ContainerError(ReportError):
    """The file around the report is unusable: an empty file, a corrupt or truncated gzip or
    zip, an email without a report in it."""


class TooLargeError(ContainerError):
    """Decompressing would exceed the size or ratio cap: a compression bomb, or a report
    larger than ``Limits.max_bytes``."""


class AggregateError(ReportError):
    """Not a usable DMARC aggregate report (RFC 7489 appendix C, DMARCbis)."""


class FailureReportError(ReportError):
    """Not a usable DMARC failure report (RFC 6591 ARF, or a plain-text variant)."""


class SmtpTlsError(ReportError):
    """Not a usable SMTP TLS report (RFC 8460)."""
