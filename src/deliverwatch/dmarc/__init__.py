"""DMARC aggregate (rua), failure (ruf) and SMTP TLS reports: finding them in files and
emails, parsing them in bounded memory, storing and summarizing them (docs/dmarc.md).

The names below are imported on first use, so ``deliverwatch.dmarc.config`` (read with every
config file) does not load the parsers.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_WHERE = {
    "AggregateReader": "aggregate",
    "parse_aggregate": "aggregate",
    "Limits": "containers",
    "Payload": "containers",
    "Rejected": "containers",
    "iter_payloads": "containers",
    "AggregateError": "errors",
    "ContainerError": "errors",
    "FailureReportError": "errors",
    "ReportError": "errors",
    "SmtpTlsError": "errors",
    "TooLargeError": "errors",
    "FailureReport": "failure",
    "parse_failure": "failure",
    "read_failure": "failure",
    "AggregateReport": "model",
    "Record": "model",
    "ReportHeader": "model",
    "SmtpTlsReport": "smtp_tls",
    "parse_smtp_tls": "smtp_tls",
    "read_smtp_tls": "smtp_tls",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)


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
