"""Aggregate report data (RFC 7489 appendix C; DMARCbis adds ``np``, ``testing``,
``discovery_method`` and ``generator``). Values are normalized: result words lower-case,
domains lower-case, missing optional elements ``None``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any


@dataclass(frozen=True, slots=True)
class DkimResult:
    """One DKIM signature the receiver checked (``auth_results/dkim``)."""

    domain: str
    selector: str | None
    result: str
    human_result: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "selector": self.selector,
            "result": self.result,
            "human_result": self.human_result,
        }


@dataclass(frozen=True, slots=True)
class SpfResult:
    """The SPF check of one identity (``auth_results/spf``); ``scope`` mfrom or helo."""

    domain: str
    scope: str
    result: str
    human_result: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "scope": self.scope,
            "result": self.result,
            "human_result": self.human_result,
        }


@dataclass(frozen=True, slots=True)
class PolicyOverride:
    """Why the receiver applied another disposition than the policy (forwarded, …)."""

    type: str
    comment: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "comment": self.comment}


@dataclass(slots=True)
class Record:
    """One ``record``: ``count`` messages from ``source_ip`` that were evaluated alike.

    ``dkim`` and ``spf`` are the *policy-evaluated* results, i.e. whether an aligned DKIM
    signature or an aligned SPF identity passed; DMARC passes when either did (RFC 7489 §4.2).
    Not frozen, for speed (a million of these may be built); treat as immutable.
    """

    source_ip: str
    count: int
    disposition: str
    dkim: str
    spf: str
    header_from: str
    envelope_from: str | None = None
    envelope_to: str | None = None
    reasons: tuple[PolicyOverride, ...] = ()
    dkim_results: tuple[DkimResult, ...] = ()
    spf_results: tuple[SpfResult, ...] = ()

    @property
    def dkim_aligned(self) -> bool:
        return self.dkim == "pass"

    @property
    def spf_aligned(self) -> bool:
        return self.spf == "pass"

    @property
    def dmarc_pass(self) -> bool:
        return self.dkim == "pass" or self.spf == "pass"

    def to_dict(self) -> dict[str, Any]:
        return {
            "source_ip": self.source_ip,
            "count": self.count,
            "disposition": self.disposition,
            "dkim": self.dkim,
            "spf": self.spf,
            "dkim_aligned": self.dkim_aligned,
            "spf_aligned": self.spf_aligned,
            "dmarc_pass": self.dmarc_pass,
            "header_from": self.header_from,
            "envelope_from": self.envelope_from,
            "envelope_to": self.envelope_to,
            "reasons": [reason.to_dict() for reason in self.reasons],
            "dkim_results": [result.to_dict() for result in self.dkim_results],
            "spf_results": [result.to_dict() for result in self.spf_results],
        }


@dataclass(frozen=True, slots=True)
class ReportMetadata:
    """``report_metadata``: who reported, which report, for when (Unix seconds, UTC)."""

    org_name: str
    report_id: str
    begin: int
    end: int
    email: str | None = None
    extra_contact_info: str | None = None
    errors: tuple[str, ...] = ()
    generator: str | None = None

    @property
    def begin_at(self) -> datetime:
        return datetime.fromtimestamp(self.begin, UTC)

    @property
    def end_at(self) -> datetime:
        return datetime.fromtimestamp(self.end, UTC)

    def to_dict(self) -> dict[str, Any]:
        return {
            "org_name": self.org_name,
            "report_id": self.report_id,
            "begin": self.begin_at.isoformat(),
            "end": self.end_at.isoformat(),
            "email": self.email,
            "extra_contact_info": self.extra_contact_info,
            "errors": list(self.errors),
            "generator": self.generator,
        }


@dataclass(frozen=True, slots=True)
class PolicyPublished:
    """``policy_published``: the DMARC record the receiver found for ``domain``."""

    domain: str
    p: str | None = None
    sp: str | None = None
    adkim: str | None = None
    aspf: str | None = None
    pct: int | None = None
    fo: str | None = None
    np: str | None = None
    testing: str | None = None
    discovery_method: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "p": self.p,
            "sp": self.sp,
            "adkim": self.adkim,
            "aspf": self.aspf,
            "pct": self.pct,
            "fo": self.fo,
            "np": self.np,
            "testing": self.testing,
            "discovery_method": self.discovery_method,
        }


@dataclass(frozen=True, slots=True)
class ReportHeader:
    """Everything of an aggregate report but its records."""

    metadata: ReportMetadata
    policy: PolicyPublished
    version: str | None = None
    namespace: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "namespace": self.namespace,
            "report_metadata": self.metadata.to_dict(),
            "policy_published": self.policy.to_dict(),
        }


@dataclass(slots=True)
class AggregateReport:
    """A whole aggregate report in memory (``parse_aggregate``); large reports stream
    through :class:`~deliverwatch.dmarc.aggregate.AggregateReader` instead."""

    header: ReportHeader
    records: list[Record]
    #: What was tolerated or fixed, each with how often: ``{"lower-cased result words": 3}``.
    repairs: dict[str, int] = field(default_factory=dict)

    @property
    def metadata(self) -> ReportMetadata:
        return self.header.metadata

    @property
    def policy(self) -> PolicyPublished:
        return self.header.policy

    @property
    def message_count(self) -> int:
        return sum(record.count for record in self.records)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.header.to_dict(),
            "records": [record.to_dict() for record in self.records],
            "record_count": len(self.records),
            "message_count": self.message_count,
            "repairs": dict(self.repairs),
        }
