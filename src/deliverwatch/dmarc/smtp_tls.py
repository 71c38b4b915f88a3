"""SMTP TLS reports (RFC 8460 §4.4): JSON, read whole (they are small; the size is capped)."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, BinaryIO

from deliverwatch.dmarc.decompress import Limits
from deliverwatch.dmarc.errors import SmtpTlsError

POLICY_TYPES = frozenset({"tlsa", "sts", "no-policy-found"})


@dataclass(frozen=True, slots=True)
class TlsFailure:
    """One kind of failed session (``failure-details``)."""

    result_type: str
    failed_session_count: int
    sending_mta_ip: str | None = None
    receiving_ip: str | None = None
    receiving_mx_hostname: str | None = None
    receiving_mx_helo: str | None = None
    additional_information: str | None = None
    failure_reason_code: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "result_type": self.result_type,
            "failed_session_count": self.failed_session_count,
            "sending_mta_ip": self.sending_mta_ip,
            "receiving_ip": self.receiving_ip,
            "receiving_mx_hostname": self.receiving_mx_hostname,
            "receiving_mx_helo": self.receiving_mx_helo,
            "additional_information": self.additional_information,
            "failure_reason_code": self.failure_reason_code,
        }


@dataclass(frozen=True, slots=True)
class TlsPolicy:
    """Sessions to one policy domain under one policy (MTA-STS, DANE, or none found)."""

    policy_type: str
    policy_domain: str
    successful_sessions: int
    failed_sessions: int
    policy_strings: tuple[str, ...] = ()
    mx_hosts: tuple[str, ...] = ()
    failures: tuple[TlsFailure, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy_type": self.policy_type,
            "policy_domain": self.policy_domain,
            "successful_sessions": self.successful_sessions,
            "failed_sessions": self.failed_sessions,
            "policy_strings": list(self.policy_strings),
            "mx_hosts": list(self.mx_hosts),
            "failures": [failure.to_dict() for failure in self.failures],
        }


@dataclass(frozen=True, slots=True)
class SmtpTlsReport:
    organization_name: str
    report_id: str
    begin: datetime
    end: datetime
    contact_info: str | None
    policies: tuple[TlsPolicy, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "organization_name": self.organization_name,
            "report_id": self.report_id,
            "begin": self.begin.isoformat(),
            "end": self.end.isoformat(),
            "contact_info": self.contact_info,
            "policies": [policy.to_dict() for policy in self.policies],
        }


def read_smtp_tls(stream: BinaryIO, limits: Limits | None = None) -> SmtpTlsReport:
    """Parse the report in ``stream``; raises SmtpTlsError."""
    cap = (limits or Limits()).max_json_bytes
    data = stream.read(cap + 1)
    if len(data) > cap:
        raise SmtpTlsError(f"SMTP TLS report larger than {cap} bytes")
    return parse_smtp_tls(data)


def parse_smtp_tls(data: bytes | str) -> SmtpTlsReport:
    """Parse an RFC 8460 JSON report; raises SmtpTlsError naming the bad field."""
    try:
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
        document = json.loads(text)
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise SmtpTlsError(f"not JSON: {exc}") from None
    if not _is_unicode(document):
        # Reports are I-JSON (RFC 8460 §4, RFC 7493 §2.1): no lone surrogates, which the
        # databases' drivers would refuse to store anyway.
        raise SmtpTlsError("not I-JSON: a string holds a lone surrogate escape")
    if not isinstance(document, dict):
        raise SmtpTlsError("not an SMTP TLS report: the JSON is not an object")
    date_range = _object(document, "date-range")
    policies = document.get("policies")
    if not isinstance(policies, list):
        raise SmtpTlsError("policies: missing or not a list")
    return SmtpTlsReport(
        organization_name=_string(document, "organization-name"),
        report_id=_string(document, "report-id"),
        begin=_time(date_range, "start-datetime"),
        end=_time(date_range, "end-datetime"),
        contact_info=_optional(document, "contact-info"),
        policies=tuple(_policy(item, index) for index, item in enumerate(policies)),
    )


def _is_unicode(document: Any) -> bool:
    """Whether every string of ``document`` encodes as UTF-8 (holds no lone surrogate); a
    walk with a stack of its own, however deep the document."""
    pending = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            if not value.isascii():
                try:
                    value.encode()
                except UnicodeEncodeError:
                    return False
        elif isinstance(value, dict):
            pending.extend(value)
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return True


def _policy(item: object, index: int) -> TlsPolicy:
    where = f"policies[{index}]"
    if not isinstance(item, dict):
        raise SmtpTlsError(f"{where}: not an object")
    policy = _object(item, "policy", where)
    summary = _object(item, "summary", where)
    policy_type = _string(policy, "policy-type", where).lower()
    if policy_type not in POLICY_TYPES:
        raise SmtpTlsError(f"{where}: unknown policy-type {policy_type!r}")
    details = item.get("failure-details", [])
    if not isinstance(details, list):
        raise SmtpTlsError(f"{where}: failure-details is not a list")
    # RFC 8460 names the MX patterns "mx-host"; early drafts and some senders "mx-host-pattern".
    mx_hosts = policy.get("mx-host", policy.get("mx-host-pattern", []))
    return TlsPolicy(
        policy_type=policy_type,
        policy_domain=_string(policy, "policy-domain", where).lower().rstrip("."),
        successful_sessions=_count(summary, "total-successful-session-count", where),
        failed_sessions=_count(summary, "total-failure-session-count", where),
        policy_strings=_strings(policy.get("policy-string", []), f"{where} policy-string"),
        mx_hosts=_strings(mx_hosts, f"{where} mx-host"),
        failures=tuple(_failure(d, f"{where} failure-details[{i}]") for i, d in enumerate(details)),
    )


def _failure(item: object, where: str) -> TlsFailure:
    if not isinstance(item, dict):
        raise SmtpTlsError(f"{where}: not an object")
    return TlsFailure(
        result_type=_string(item, "result-type", where).lower(),
        failed_session_count=_count(item, "failed-session-count", where),
        sending_mta_ip=_ip(item, "sending-mta-ip", where),
        receiving_ip=_ip(item, "receiving-ip", where),
        receiving_mx_hostname=_optional(item, "receiving-mx-hostname", where),
        receiving_mx_helo=_optional(item, "receiving-mx-helo", where),
        additional_information=_optional(item, "additional-information", where),
        failure_reason_code=_optional(item, "failure-reason-code", where),
    )


def _object(item: dict[str, Any], key: str, where: str = "report") -> dict[str, Any]:
    value = item.get(key)
    if not isinstance(value, dict):
        raise SmtpTlsError(f"{where}: {key} missing or not an object")
    return value


def _string(item: dict[str, Any], key: str, where: str = "report") -> str:
    value = item.get(key)
    if not isinstance(value, str) or not value.strip():
        raise SmtpTlsError(f"{where}: {key} missing or not a string")
    return value.strip()


def _optional(item: dict[str, Any], key: str, where: str = "report") -> str | None:
    value = item.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise SmtpTlsError(f"{where}: {key} is not a string")
    return value.strip() or None


def _strings(value: object, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SmtpTlsError(f"{where}: not a list of strings")
    return tuple(value)


def _count(item: dict[str, Any], key: str, where: str) -> int:
    value = item.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SmtpTlsError(f"{where}: {key} missing or not a count")
    return value


def _ip(item: dict[str, Any], key: str, where: str) -> str | None:
    value = _optional(item, key, where)
    if value is None:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        raise SmtpTlsError(f"{where}: {key} {value!r} is not an IP address") from None


def _time(item: dict[str, Any], key: str) -> datetime:
    text = _string(item, key, "date-range")
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        raise SmtpTlsError(f"date-range: {key} {text!r} is not an RFC 3339 date-time") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
