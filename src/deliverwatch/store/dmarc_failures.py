"""Storing DMARC failure (forensic) reports and listing them for ``dmarc failures``.

A failure report is one row, unique on its fingerprint (``dmarc.failure.fingerprint``): the
same report imported twice is a duplicate. What is kept is the feedback fields and a few
headers of the original message (``failure.SAMPLE_HEADERS``); its body never reaches the
store, since it may hold personal data that nothing here needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from deliverwatch.dmarc.failure import FailureReport, fingerprint
from deliverwatch.store.engine import from_store_time, lock_store_for_writing, upsert_insert
from deliverwatch.store.schema import dmarc_failure_reports


@dataclass(frozen=True, slots=True)
class FailureStored:
    """What became of one failure report: ``imported``, or ``duplicate`` (already stored)."""

    status: Literal["imported", "duplicate"]
    fingerprint: str
    domain: str | None
    source_ip: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "fingerprint": self.fingerprint,
            "domain": self.domain,
            "source_ip": self.source_ip,
        }


@dataclass(frozen=True, slots=True)
class StoredFailure:
    """A failure report read back from the store."""

    id: int
    fingerprint: str
    format: str
    feedback_type: str | None
    reported_domain: str | None
    source_ip: str | None
    arrival_date: datetime | None
    original_mail_from: str | None
    original_rcpt_to: list[str]
    auth_failure: str | None
    delivery_result: str | None
    dkim_domain: str | None
    dkim_selector: str | None
    reporter: str | None
    sample_headers: dict[str, str]
    source: str
    imported_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "fingerprint": self.fingerprint,
            "format": self.format,
            "feedback_type": self.feedback_type,
            "reported_domain": self.reported_domain,
            "source_ip": self.source_ip,
            "arrival_date": self.arrival_date.isoformat() if self.arrival_date else None,
            "original_mail_from": self.original_mail_from,
            "original_rcpt_to": list(self.original_rcpt_to),
            "auth_failure": self.auth_failure,
            "delivery_result": self.delivery_result,
            "dkim_domain": self.dkim_domain,
            "dkim_selector": self.dkim_selector,
            "reporter": self.reporter,
            "sample_headers": dict(self.sample_headers),
            "source": self.source,
            "imported_at": self.imported_at.isoformat(),
        }


def store_failure(conn: Connection, report: FailureReport, *, source: str) -> FailureStored:
    """Store ``report`` in the caller's transaction unless a report with the same fingerprint
    is stored already."""
    lock_store_for_writing(conn)
    key = fingerprint(report)
    inserted = conn.execute(
        upsert_insert(conn, dmarc_failure_reports)
        .values(
            fingerprint=key,
            format=report.format,
            feedback_type=report.feedback_type,
            reported_domain=report.reported_domain,
            source_ip=report.source_ip,
            arrival_date=report.arrival_date,
            original_mail_from=report.original_mail_from,
            original_rcpt_to=list(report.original_rcpt_to) or None,
            auth_failure=report.auth_failure,
            delivery_result=report.delivery_result,
            authentication_results=report.authentication_results,
            dkim_domain=report.dkim_domain,
            dkim_selector=report.dkim_selector,
            identity_alignment=report.identity_alignment,
            user_agent=report.user_agent,
            reporter=report.reporter,
            report_subject=report.report_subject,
            sample_headers=dict(report.sample_headers) or None,
            fields={name: list(values) for name, values in report.fields.items()} or None,
            source=source,
        )
        .on_conflict_do_nothing(index_elements=["fingerprint"])
        .returning(dmarc_failure_reports.c.id)
    ).scalar_one_or_none()
    status: Literal["imported", "duplicate"] = "duplicate" if inserted is None else "imported"
    return FailureStored(status, key, report.reported_domain, report.source_ip)


def domain_filter(column: sa.ColumnElement[str], domain: str) -> sa.ColumnElement[bool]:
    """``domain`` and its subdomains."""
    escaped = domain.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return sa.or_(column == domain, column.like(f"%.{escaped}", escape="\\"))


def list_failures(
    conn: Connection,
    *,
    domain: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 100,
) -> list[StoredFailure]:
    """Failure reports, newest arrival first (reports without an arrival date by import
    time), for ``domain`` and its subdomains; ``since``/``until`` bound the arrival date
    (or the import time when the report has none)."""
    table = dmarc_failure_reports
    when = sa.func.coalesce(table.c.arrival_date, table.c.imported_at)
    query = sa.select(table).order_by(when.desc(), table.c.id.desc()).limit(limit)
    if domain:
        query = query.where(domain_filter(table.c.reported_domain, domain.lower().rstrip(".")))
    if since is not None:
        query = query.where(when >= since)
    if until is not None:
        query = query.where(when < until)
    return [_row(row) for row in conn.execute(query).mappings()]


def count_failures(
    conn: Connection,
    *,
    domain: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> int:
    """How many failure reports :func:`list_failures` would give without a limit."""
    table = dmarc_failure_reports
    when = sa.func.coalesce(table.c.arrival_date, table.c.imported_at)
    query = sa.select(sa.func.count()).select_from(table)
    if domain:
        query = query.where(domain_filter(table.c.reported_domain, domain.lower().rstrip(".")))
    if since is not None:
        query = query.where(when >= since)
    if until is not None:
        query = query.where(when < until)
    return int(conn.execute(query).scalar_one())


def _row(row: sa.RowMapping) -> StoredFailure:
    arrival = row["arrival_date"]
    return StoredFailure(
        id=int(row["id"]),
        fingerprint=row["fingerprint"],
        format=row["format"],
        feedback_type=row["feedback_type"],
        reported_domain=row["reported_domain"],
        source_ip=row["source_ip"],
        arrival_date=from_store_time(arrival) if arrival is not None else None,
        original_mail_from=row["original_mail_from"],
        original_rcpt_to=list(row["original_rcpt_to"] or []),
        auth_failure=row["auth_failure"],
        delivery_result=row["delivery_result"],
        dkim_domain=row["dkim_domain"],
        dkim_selector=row["dkim_selector"],
        reporter=row["reporter"],
        sample_headers=dict(row["sample_headers"] or {}),
        source=row["source"],
        imported_at=from_store_time(row["imported_at"]),
    )


__all__ = [
    "FailureStored",
    "StoredFailure",
    "count_failures",
    "list_failures",
    "store_failure",
]
