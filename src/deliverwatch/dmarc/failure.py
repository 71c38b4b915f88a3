"""Failure (forensic, ruf) reports: RFC 6591 ARF emails (a ``message/feedback-report`` part
of ``Name: value`` fields, then the original message or its headers), and the plain-text
variants some receivers send instead (Exim: ``Sender IP Address: …`` lines and a copy of the
headers)."""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import ipaddress
import json
import quopri
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser, Parser
from email.policy import compat32
from email.utils import parsedate_to_datetime
from typing import Any, BinaryIO, Literal

from deliverwatch.dmarc.decompress import Limits
from deliverwatch.dmarc.errors import FailureReportError

#: Headers of the original message kept in a report (the body is never kept).
SAMPLE_HEADERS = ("from", "to", "subject", "date", "message-id", "return-path", "reply-to")
#: Plain-text report lines → ARF field names.
_TEXT_FIELDS = {
    "sender domain": "reported-domain",
    "sender ip address": "source-ip",
    "received date": "arrival-date",
    "spf alignment": "x-spf-alignment",
    "dkim alignment": "x-dkim-alignment",
    "dmarc results": "x-dmarc-results",
}
_TEXT_LINE = re.compile(r"^\s*([A-Za-z][A-Za-z ]+?)\s*:\s*(.*?)\s*$")


@dataclass(frozen=True, slots=True)
class FailureReport:
    """One failed message, as the receiver described it. ``fields`` holds every report field
    (lower-case names, values as written); the named attributes are the useful ones."""

    format: Literal["arf", "text"]
    feedback_type: str | None
    source_ip: str | None
    reported_domain: str | None
    arrival_date: datetime | None
    original_mail_from: str | None
    original_rcpt_to: tuple[str, ...]
    auth_failure: str | None
    delivery_result: str | None
    authentication_results: str | None
    dkim_domain: str | None
    dkim_selector: str | None
    identity_alignment: str | None
    user_agent: str | None
    reporter: str | None
    report_subject: str | None
    sample_headers: dict[str, str] = field(default_factory=dict)
    fields: dict[str, list[str]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "feedback_type": self.feedback_type,
            "source_ip": self.source_ip,
            "reported_domain": self.reported_domain,
            "arrival_date": self.arrival_date.isoformat() if self.arrival_date else None,
            "original_mail_from": self.original_mail_from,
            "original_rcpt_to": list(self.original_rcpt_to),
            "auth_failure": self.auth_failure,
            "delivery_result": self.delivery_result,
            "authentication_results": self.authentication_results,
            "dkim_domain": self.dkim_domain,
            "dkim_selector": self.dkim_selector,
            "identity_alignment": self.identity_alignment,
            "user_agent": self.user_agent,
            "reporter": self.reporter,
            "report_subject": self.report_subject,
            "sample_headers": dict(self.sample_headers),
            "fields": {name: list(values) for name, values in self.fields.items()},
        }


def read_failure(stream: BinaryIO, limits: Limits | None = None) -> FailureReport:
    """Parse the report email in ``stream``; raises FailureReportError."""
    cap = (limits or Limits()).max_message_bytes
    data = stream.read(cap + 1)
    if len(data) > cap:
        raise FailureReportError(f"email larger than {cap} bytes")
    return parse_failure(BytesParser(policy=compat32).parsebytes(data))


def parse_failure(message: Message) -> FailureReport:
    """Parse a failure report email (ARF, else the plain-text form)."""
    fields: dict[str, list[str]] = {}
    sample: dict[str, str] = {}
    report_format: Literal["arf", "text"] = "arf"
    for part in message.walk():
        content_type = part.get_content_type()
        if content_type == "message/feedback-report" and not fields:
            fields = _arf_fields(part)
        elif content_type == "message/rfc822" and not sample:
            inner = part.get_payload()
            if isinstance(inner, list) and inner and isinstance(inner[0], Message):
                sample = _sample(inner[0])
        elif content_type == "text/rfc822-headers" and not sample:
            sample = _sample(Parser(policy=compat32).parsestr(_text(part), headersonly=True))
    if not fields:
        report_format = "text"
        fields, text_sample = _text_fields(message)
        sample = sample or text_sample
    if not fields:
        raise FailureReportError("no feedback report fields (neither ARF nor the text form)")
    return _report(report_format, fields, sample, message)


def _report(
    report_format: Literal["arf", "text"],
    fields: dict[str, list[str]],
    sample: dict[str, str],
    message: Message,
) -> FailureReport:
    def first(name: str) -> str | None:
        values = [v for v in fields.get(name, []) if v]
        return values[0] if values else None

    reported = first("reported-domain")
    mail_from = first("original-mail-from")
    return FailureReport(
        format=report_format,
        feedback_type=(first("feedback-type") or "").lower() or None,
        source_ip=_ip(first("source-ip")),
        reported_domain=reported.strip().rstrip(".").lower() if reported else None,
        arrival_date=_date(first("arrival-date") or first("received-date")),
        original_mail_from=mail_from.strip("<> ") or None if mail_from else None,
        original_rcpt_to=tuple(v.strip("<> ") for v in fields.get("original-rcpt-to", []) if v),
        auth_failure=(first("auth-failure") or "").lower() or None,
        delivery_result=(first("delivery-result") or "").lower() or None,
        authentication_results=first("authentication-results"),
        dkim_domain=first("dkim-domain"),
        dkim_selector=first("dkim-selector"),
        identity_alignment=first("identity-alignment"),
        user_agent=first("user-agent"),
        reporter=_decoded(message.get("From")),
        report_subject=_decoded(message.get("Subject")),
        sample_headers=sample,
        fields=fields,
    )


def _arf_fields(part: Message) -> dict[str, list[str]]:
    """The ``Name: value`` fields of a message/feedback-report part (RFC 5965 §3.1), which
    some reporters base64-encode (Netease)."""
    payload = part.get_payload()
    inner = payload[0] if isinstance(payload, list) and payload else None
    encoding = str(part.get("Content-Transfer-Encoding", "")).strip().lower()
    if (
        isinstance(inner, Message)
        and inner.keys()
        and encoding not in ("base64", "quoted-printable")
    ):
        return _collect(inner.items())
    raw = inner.get_payload() if isinstance(inner, Message) else payload
    text = raw if isinstance(raw, str) else ""
    decoded = _decode(text, encoding)
    return _collect(Parser(policy=compat32).parsestr(decoded, headersonly=True).items())


def _decode(text: str, encoding: str) -> str:
    try:
        if encoding == "base64":
            return base64.b64decode(text).decode("utf-8", "replace")
        if encoding == "quoted-printable":
            return quopri.decodestring(text.encode("ascii", "replace")).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        raise FailureReportError(f"feedback report part: bad {encoding} encoding") from None
    return text


def _collect(items: list[tuple[str, Any]]) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    for name, value in items:
        fields.setdefault(name.strip().lower(), []).append(" ".join(str(value).split()))
    return fields


def _text_fields(message: Message) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Fields of a plain-text report and the copy of the original headers that follows."""
    for part in message.walk():
        if part.get_content_type() != "text/plain":
            continue
        body = _text(part)
        fields: dict[str, list[str]] = {}
        lines = body.splitlines()
        for index, line in enumerate(lines):
            if line.startswith("------"):
                headers = "\n".join(lines[index + 1 :]).lstrip("\n")
                sample = _sample(Parser(policy=compat32).parsestr(headers, headersonly=True))
                return fields, sample
            match = _TEXT_LINE.match(line)
            if match and match.group(1).lower() in _TEXT_FIELDS:
                name = _TEXT_FIELDS[match.group(1).lower()]
                fields.setdefault(name, []).append(match.group(2))
        if fields:
            return fields, {}
    return {}, {}


def _text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    if isinstance(payload, bytes):
        charset = part.get_content_charset() or "utf-8"
        try:
            return payload.decode(charset, "replace")
        except LookupError:
            return payload.decode("utf-8", "replace")
    raw = part.get_payload()
    return raw if isinstance(raw, str) else ""


def _sample(original: Message) -> dict[str, str]:
    sample: dict[str, str] = {}
    for name in SAMPLE_HEADERS:
        value = _decoded(original.get(name))
        if value:
            sample[name] = value
    return sample


def _decoded(value: object) -> str | None:
    if value is None:
        return None
    text = str(value)
    with contextlib.suppress(ValueError, LookupError, UnicodeDecodeError):
        text = str(make_header(decode_header(text)))
    return " ".join(text.split()) or None


def _ip(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value.strip().strip("[]")))
    except ValueError:
        return None


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def fingerprint(report: FailureReport) -> str:
    """A stable hash of what ``report`` says (its fields, reporter and the original's kept
    headers), the key failure reports are deduplicated on: the same report imported again,
    or saved with other line endings, has the same fingerprint."""
    canonical = json.dumps(
        {
            "format": report.format,
            "fields": report.fields,
            "reporter": report.reporter,
            "subject": report.report_subject,
            "sample": report.sample_headers,
        },
        sort_keys=True,
        ensure_ascii=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
