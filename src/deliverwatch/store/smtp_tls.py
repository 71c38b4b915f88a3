"""Storing SMTP TLS reports (RFC 8460) and listing them for ``dmarc tls``.

A report is one row, unique on the reporter's ``(organization_name, report_id)`` as aggregate
reports are: importing it again is a duplicate and adds nothing. Its policies are rows of
``smtp_tls_policies`` (the failure details as JSON), found by policy domain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from deliverwatch.dmarc.smtp_tls import SmtpTlsReport
from deliverwatch.store.dmarc_failures import domain_filter
from deliverwatch.store.engine import from_store_time, lock_store_for_writing, upsert_insert
from deliverwatch.store.schema import smtp_tls_policies, smtp_tls_reports


@dataclass(frozen=True, slots=True)
class TlsStored:
    """What became of one SMTP TLS report: ``imported``, or ``duplicate`` (already stored)."""

    status: Literal["imported", "duplicate"]
    organization_name: str
    report_id: str
    domains: tuple[str, ...]
    successful_sessions: int
    failed_sessions: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "org_name": self.organization_name,
            "report_id": self.report_id,
            "domains": list(self.domains),
            "successful_sessions": self.successful_sessions,
            "failed_sessions": self.failed_sessions,
        }


@dataclass(frozen=True, slots=True)
class StoredTlsPolicy:
    policy_type: str
    policy_domain: str
    successful_sessions: int
    failed_sessions: int
    mx_hosts: list[str]
    failures: list[dict[str, Any]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy_type": self.policy_type,
            "policy_domain": self.policy_domain,
            "successful_sessions": self.successful_sessions,
            "failed_sessions": self.failed_sessions,
            "mx_hosts": list(self.mx_hosts),
            "failures": [dict(failure) for failure in self.failures],
        }


@dataclass(frozen=True, slots=True)
class StoredTlsReport:
    """An SMTP TLS report read back, with its policies (those of the domain asked for)."""

    id: int
    organization_name: str
    report_id: str
    begin_at: datetime
    end_at: datetime
    contact_info: str | None
    successful_sessions: int
    failed_sessions: int
    source: str
    policies: list[StoredTlsPolicy] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "org_name": self.organization_name,
            "report_id": self.report_id,
            "begin": self.begin_at.isoformat(),
            "end": self.end_at.isoformat(),
            "contact_info": self.contact_info,
            "successful_sessions": self.successful_sessions,
            "failed_sessions": self.failed_sessions,
            "source": self.source,
            "policies": [policy.to_dict() for policy in self.policies],
        }


def store_smtp_tls(conn: Connection, report: SmtpTlsReport, *, source: str) -> TlsStored:
    """Store ``report`` and its policies in the caller's transaction, unless the reporter's
    report id is stored already."""
    lock_store_for_writing(conn)
    successful = sum(policy.successful_sessions for policy in report.policies)
    failed = sum(policy.failed_sessions for policy in report.policies)
    domains = tuple(dict.fromkeys(policy.policy_domain for policy in report.policies))
    inserted = conn.execute(
        upsert_insert(conn, smtp_tls_reports)
        .values(
            organization_name=report.organization_name,
            report_id=report.report_id,
            begin_at=report.begin,
            end_at=report.end,
            contact_info=report.contact_info,
            successful_sessions=successful,
            failed_sessions=failed,
            source=source,
        )
        .on_conflict_do_nothing(index_elements=["organization_name", "report_id"])
        .returning(smtp_tls_reports.c.id)
    ).scalar_one_or_none()
    if inserted is None:
        return TlsStored(
            "duplicate", report.organization_name, report.report_id, domains, successful, failed
        )
    if report.policies:
        conn.execute(
            sa.insert(smtp_tls_policies),
            [
                {
                    "report_pk": int(inserted),
                    "seq": seq,
                    "policy_type": policy.policy_type,
                    "policy_domain": policy.policy_domain,
                    "successful_sessions": policy.successful_sessions,
                    "failed_sessions": policy.failed_sessions,
                    "policy_strings": list(policy.policy_strings) or None,
                    "mx_hosts": list(policy.mx_hosts) or None,
                    "failures": [failure.to_dict() for failure in policy.failures] or None,
                }
                for seq, policy in enumerate(report.policies, start=1)
            ],
        )
    return TlsStored(
        "imported", report.organization_name, report.report_id, domains, successful, failed
    )


def list_smtp_tls(
    conn: Connection,
    *,
    domain: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
) -> list[StoredTlsReport]:
    """SMTP TLS reports whose range overlaps ``[since, until)``, newest first; with
    ``domain``, only reports with a policy for it or a subdomain, and only those policies."""
    reports = smtp_tls_reports
    policies = smtp_tls_policies
    wanted = domain.lower().rstrip(".") if domain else None
    query = sa.select(reports).order_by(reports.c.begin_at.desc(), reports.c.id.desc())
    if wanted:
        matching = sa.select(policies.c.report_pk).where(
            domain_filter(policies.c.policy_domain, wanted)
        )
        query = query.where(reports.c.id.in_(matching))
    if since is not None:
        query = query.where(reports.c.end_at > since)
    if until is not None:
        query = query.where(reports.c.begin_at < until)
    rows = list(conn.execute(query.limit(limit)).mappings())
    by_report: dict[int, list[StoredTlsPolicy]] = {int(row["id"]): [] for row in rows}
    if by_report:
        policy_query = (
            sa.select(policies)
            .where(policies.c.report_pk.in_(list(by_report)))
            .order_by(policies.c.report_pk, policies.c.seq)
        )
        if wanted:
            policy_query = policy_query.where(domain_filter(policies.c.policy_domain, wanted))
        for row in conn.execute(policy_query).mappings():
            by_report[int(row["report_pk"])].append(
                StoredTlsPolicy(
                    policy_type=row["policy_type"],
                    policy_domain=row["policy_domain"],
                    successful_sessions=int(row["successful_sessions"]),
                    failed_sessions=int(row["failed_sessions"]),
                    mx_hosts=list(row["mx_hosts"] or []),
                    failures=list(row["failures"] or []),
                )
            )
    return [
        StoredTlsReport(
            id=int(row["id"]),
            organization_name=row["organization_name"],
            report_id=row["report_id"],
            begin_at=from_store_time(row["begin_at"]),
            end_at=from_store_time(row["end_at"]),
            contact_info=row["contact_info"],
            successful_sessions=int(row["successful_sessions"]),
            failed_sessions=int(row["failed_sessions"]),
            source=row["source"],
            policies=by_report[int(row["id"])],
        )
        for row in rows
    ]


__all__ = ["StoredTlsPolicy", "StoredTlsReport", "TlsStored", "list_smtp_tls", "store_smtp_tls"]
