"""MTA-STS (RFC 8461): the ``_mta-sts`` TXT record, the HTTPS policy, and MX coverage.

A policy that cannot be fetched or parsed makes senders act as if there were none, and an
enforce-mode policy that misses an MX host makes senders refuse to deliver to that host —
both silent failures worth reporting.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from deliverwatch.auth.findings import (
    Finding,
    SectionStatus,
    Severity,
    dns_failure,
    finding,
    section_status,
)
from deliverwatch.dns import Resolver, normalize_name
from deliverwatch.http import Fetcher

MODES: Final = ("enforce", "testing", "none")
MAX_AGE_LIMIT: Final = 31_557_600  # RFC 8461 §3.2: at most about one year
POLICY_MAX_BYTES: Final = 64 * 1024  # far above any real policy; a common sender-side cap
_ID = re.compile(r"[A-Za-z0-9]{1,32}\Z")
_EXT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}\Z")
_TXT_EXT_VALUE = re.compile(r"[\x21-\x3a\x3c\x3e-\x7e]+\Z")  # no "=", ";", space, controls
_POLICY_VALUE = re.compile(r"[\x21-\x7e](?:[ \t]*[\x21-\x7e])*\Z")
_FIELD_DELIM = re.compile(r"[ \t]*;[ \t]*")
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")


class MtaStsSyntaxError(ValueError):
    """The TXT record or the policy file violates RFC 8461 §3.1/§3.2."""


@dataclass(frozen=True)
class StsRecord:
    id: str
    extensions: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class StsPolicy:
    version: str
    mode: str
    mx: tuple[str, ...]
    max_age: int

    def matches(self, host: str) -> bool:
        """Whether an MX host name is covered by one of the ``mx`` patterns (RFC 8461 §4.1)."""
        host = normalize_name(host)
        return any(mx_pattern_matches(pattern, host) for pattern in self.mx)

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "mode": self.mode,
            "mx": list(self.mx),
            "max_age": self.max_age,
        }


def mx_pattern_matches(pattern: str, host: str) -> bool:
    """``*.example.net`` covers exactly one extra leftmost label (RFC 8461 §4.1)."""
    pattern, host = normalize_name(pattern), normalize_name(host)
    if pattern.startswith("*."):
        first, _, rest = host.partition(".")
        return bool(first) and rest == pattern[2:]
    return host == pattern


def parse_sts_txt(text: str) -> StsRecord:
    """Parse ``v=STSv1; id=...`` (RFC 8461 §3.1); unknown fields are kept, not rejected."""
    parts = _FIELD_DELIM.split(text.strip())
    if parts[0] != "v=STSv1":
        raise MtaStsSyntaxError(f"the record must start with v=STSv1, not {parts[0][:40]!r}")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()  # one trailing ";" is allowed
    record_id: str | None = None
    extensions: list[tuple[str, str]] = []
    for part in parts[1:]:
        name, eq, value = part.partition("=")
        if not eq or not _EXT_NAME.match(name):
            raise MtaStsSyntaxError(f"{part[:40]!r} is not a name=value field")
        if name == "id":
            if not _ID.match(value):
                raise MtaStsSyntaxError(f"id={value[:40]} must be 1 to 32 letters or digits")
            record_id = record_id or value  # a repeated field: the first one counts (§3.2)
        elif not _TXT_EXT_VALUE.match(value):
            raise MtaStsSyntaxError(f"field {name}= has an invalid value {value[:40]!r}")
        else:
            extensions.append((name, value))
    if record_id is None:
        raise MtaStsSyntaxError("the record has no id= field")
    return StsRecord(record_id, tuple(extensions))


def parse_sts_policy(text: str) -> StsPolicy:
    """Parse the policy file (RFC 8461 §3.2): ``key: value`` lines ended by CRLF or LF.

    Unknown keys are ignored and a repeated key other than ``mx`` counts once (the first).
    """
    fields: dict[str, str] = {}
    mx: list[str] = []
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.removesuffix("\r").rstrip(" \t")
        if not line:
            continue
        key, colon, value = line.partition(":")
        value = value.lstrip(" \t")
        if not colon or not _EXT_NAME.match(key):
            raise MtaStsSyntaxError(f"line {number} is not a 'key: value' field: {line[:60]!r}")
        if not _POLICY_VALUE.match(value):
            raise MtaStsSyntaxError(f"line {number}: {key} has an empty or invalid value")
        if key == "mx":
            mx.append(_mx_pattern(value, number))
        else:
            fields.setdefault(key, value)
    for key in ("version", "mode", "max_age"):
        if key not in fields:
            raise MtaStsSyntaxError(f"the policy has no {key}: field")
    if fields["version"] != "STSv1":
        raise MtaStsSyntaxError(f"version is {fields['version'][:20]!r}; only STSv1 exists")
    mode = fields["mode"]
    if mode not in MODES:
        raise MtaStsSyntaxError(f"mode is {mode[:20]!r}; it must be enforce, testing or none")
    age = fields["max_age"]
    if not (age.isascii() and age.isdigit() and len(age) <= 10) or int(age) > MAX_AGE_LIMIT:
        raise MtaStsSyntaxError(
            f"max_age {age[:20]!r} is not a number of seconds 0..{MAX_AGE_LIMIT}"
        )
    if mode != "none" and not mx:
        raise MtaStsSyntaxError(f"mode {mode} needs at least one mx: line")
    return StsPolicy("STSv1", mode, tuple(mx), int(age))


def _mx_pattern(value: str, line: int) -> str:
    pattern = value.lower().rstrip(".")
    name = pattern.removeprefix("*.")
    labels = name.split(".")
    if not all(_LABEL.match(label) for label in labels):
        raise MtaStsSyntaxError(
            f"line {line}: mx {value[:60]!r} is not a host name or a *. wildcard pattern"
        )
    return pattern


@dataclass
class MtaStsResult:
    domain: str
    published: bool = False
    record: str | None = None
    sts_id: str | None = None
    policy: StsPolicy | None = None
    policy_url: str | None = None
    fetched: bool = False
    findings: list[Finding] = field(default_factory=list)
    status: SectionStatus = "ok"

    def to_dict(self) -> dict[str, Any]:
        return {
            "published": self.published,
            "record": self.record,
            "id": self.sts_id,
            "policy": self.policy.to_dict() if self.policy else None,
            "policy_url": self.policy_url,
            "fetched": self.fetched,
            "status": self.status,
        }


async def check_mta_sts(
    domain: str,
    resolver: Resolver,
    *,
    mx_hosts: Sequence[str],
    fetcher: Fetcher | None,
) -> MtaStsResult:
    """Check the TXT record, fetch the policy (unless ``fetcher`` is None) and match MX hosts."""
    domain = normalize_name(domain)
    result = MtaStsResult(domain)
    name = f"_mta-sts.{domain}"
    answer = await resolver.txt(name)
    if answer.failed:
        result.findings.append(dns_failure(answer, "MTA-STS record"))
        result.status = section_status(result.findings, unknown=True)
        return result
    # §3.1: records not starting with v=STSv1 are discarded; exactly one must remain
    records = [r for r in answer.records if r.startswith("v=STSv1")]
    if not records:
        return result
    result.published = True
    result.record = records[0]
    result.policy_url = f"https://mta-sts.{domain}/.well-known/mta-sts.txt"
    if len(records) > 1:
        result.findings.append(
            finding(
                "mta_sts.syntax_error",
                f"{name} has {len(records)} v=STSv1 records; senders ignore MTA-STS unless there "
                "is exactly one (RFC 8461 §3.1)",
            )
        )
    else:
        try:
            result.sts_id = parse_sts_txt(records[0]).id
        except MtaStsSyntaxError as exc:
            result.findings.append(finding("mta_sts.syntax_error", f"{name}: {exc}"))
    if fetcher is None:
        result.findings.append(
            finding(
                "mta_sts.not_checked", f"{result.policy_url} was not fetched (HTTP checks are off)"
            )
        )
        worst = section_status(result.findings)
        result.status = "not_checked" if worst == "ok" else worst
        return result
    await _check_policy(result, fetcher, mx_hosts)
    result.status = section_status(result.findings)
    return result


async def _check_policy(result: MtaStsResult, fetcher: Fetcher, mx_hosts: Sequence[str]) -> None:
    url = result.policy_url
    assert url is not None
    # §3.3: no redirects, 200 only, a certificate valid for mta-sts.<domain>
    response = await fetcher.get(url, max_bytes=POLICY_MAX_BYTES)
    if not response.ok or response.status_code != 200:
        reason = response.error or f"HTTP {response.status_code}; RFC 8461 §3.3 requires 200"
        if response.status_code in (301, 302, 303, 307, 308):
            reason += " (RFC 8461 §3.3: senders do not follow redirects)"
        result.findings.append(finding("mta_sts.policy_unreachable", f"{url}: {reason}"))
        return
    result.fetched = True
    if response.media_type != "text/plain":
        served = response.media_type or "no Content-Type"
        result.findings.append(
            finding("mta_sts.content_type", f"{url} is served as {served}, not text/plain")
        )
    try:
        policy = parse_sts_policy(response.body.decode("utf-8"))
    except UnicodeDecodeError:
        result.findings.append(finding("mta_sts.syntax_error", f"{url} is not UTF-8 text"))
        return
    except MtaStsSyntaxError as exc:
        result.findings.append(finding("mta_sts.syntax_error", f"{url}: {exc}"))
        return
    result.policy = policy
    if policy.mode == "testing":
        result.findings.append(
            finding(
                "mta_sts.testing_mode",
                f"the {result.domain} MTA-STS policy is in testing mode: senders report TLS "
                "failures but still deliver",
            )
        )
    if policy.mode == "none":
        return
    patterns = ", ".join(policy.mx)
    for host in dict.fromkeys(normalize_name(h) for h in mx_hosts):
        if host and not policy.matches(host):
            consequence = (
                "senders will refuse to deliver to it"
                if policy.mode == "enforce"
                else "senders will report failures for it once you enforce"
            )
            result.findings.append(
                finding(
                    "mta_sts.mx_mismatch",
                    f"MX host {host} is not matched by the policy's mx: lines ({patterns}); "
                    f"{consequence}",
                    severity=Severity.ERROR if policy.mode == "enforce" else Severity.WARNING,
                )
            )


__all__ = [
    "MAX_AGE_LIMIT",
    "POLICY_MAX_BYTES",
    "MtaStsResult",
    "MtaStsSyntaxError",
    "StsPolicy",
    "StsRecord",
    "check_mta_sts",
    "mx_pattern_matches",
    "parse_sts_policy",
    "parse_sts_txt",
]
