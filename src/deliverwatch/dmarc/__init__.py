"""DMARC aggregate (rua), failure (ruf) and SMTP TLS reports: finding them in files and
emails, parsing them in bounded memory, and summarizing what they say (docs/dmarc.md)."""

from __future__ import annotations

from deliverwatch.dmarc.aggregate import AggregateReader, parse_aggregate
from deliverwatch.dmarc.containers import Limits, Payload, Rejected, iter_payloads
from deliverwatch.dmarc.errors import (
    AggregateError,
    ContainerError,
    FailureReportError,
    ReportError,
    SmtpTlsError,
    TooLargeError,
)
from deliverwatch.dmarc.failure import FailureReport, parse_failure, read_failure
from deliverwatch.dmarc.model import AggregateReport, Record, ReportHeader
from deliverwatch.dmarc.smtp_tls import SmtpTlsReport, parse_smtp_tls, read_smtp_tls

__all__ = [
    "AggregateError",
    "AggregateReader",
    "AggregateReport",
    "ContainerError",
    "FailureReport",
    "FailureReportError",
    "Limits",
    "Payload",
    "Record",
    "Rejected",
    "ReportError",
    "ReportHeader",
    "SmtpTlsError",
    "SmtpTlsReport",
    "TooLargeError",
    "iter_payloads",
    "parse_aggregate",
    "parse_failure",
    "parse_smtp_tls",
    "read_failure",
    "read_smtp_tls",
]
