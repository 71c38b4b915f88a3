"""Audit history and scores in the store (tables ``audits`` and ``scores``, migration 0003).

Every function works in the caller's connection or transaction, so an audit, its changes and
its score are stored together or not at all::

    with begin_write(engine) as conn:
        stored = record_audit(conn, report.to_dict(), clock.now())
        record_score(conn, compute_score(gather_inputs(conn, domain, stored.report, clock)),
                     audit_id=stored.id)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from deliverwatch.dns import normalize_name
from deliverwatch.history.changes import (
    Change,
    baseline_report,
    diff_audits,
    unknown_sections,
)
from deliverwatch.history.scores import DomainScore
from deliverwatch.store.engine import from_store_time
from deliverwatch.store.schema import audits, scores

#: Older audits read (a week of hourly audits) to find the last known state of sections a DNS
#: failure hides. After a longer outage the section is not compared at its first good audit:
#: nothing is reported rather than something false.
BASELINE_DEPTH = 168


@dataclass(frozen=True, slots=True)
class StoredAudit:
    """One stored audit: the report as ``check --format json`` gives it and what changed since
    the previous audit of the domain (empty for the first one)."""

    id: int
    domain: str
    checked_at: datetime
    status: str
    score: int
    grade: str
    errors: int
    warnings: int
    infos: int
    report: dict[str, Any] = field(repr=False)
    changes: list[Change] = field(default_factory=list)

    @property
    def regressions(self) -> list[Change]:
        return [c for c in self.changes if c.severity_hint == "worse"]

    def to_dict(self, *, include_report: bool = True) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": self.id,
            "domain": self.domain,
            "checked_at": _iso(self.checked_at),
            "status": self.status,
            "score": self.score,
            "grade": self.grade,
            "findings": {"error": self.errors, "warning": self.warnings, "info": self.infos},
            "changes": [c.to_dict() for c in self.changes],
        }
        if include_report:
            data["report"] = self.report
        return data


@dataclass(frozen=True, slots=True)
class Pruned:
    audits: int
    scores: int


def record_audit(conn: Connection, report: dict[str, Any], checked_at: datetime) -> StoredAudit:
    """Store one domain's report with its changes since the domain's previous audit.

    Sections the previous audit could not check (``unknown``) are compared with the last
    audit that could, so a record changed during a DNS outage is still reported, and an
    outage that goes on is reported once, not at every audit.
    """
    if checked_at.tzinfo is None:
        raise ValueError("checked_at must be timezone-aware")
    domain = normalize_name(str(report.get("domain") or ""))
    if not domain:
        raise ValueError("the report names no domain")
    previous = _previous_reports(conn, domain, checked_at, 1)
    if previous and unknown_sections(previous[0]):
        previous = _previous_reports(conn, domain, checked_at, BASELINE_DEPTH)
    changes: list[Change] = []
    base = baseline_report(previous)
    if base is not None:
        already = unknown_sections(previous[0])
        changes = [
            c
            for c in diff_audits(base, report)
            if not (c.kind == "unknown" and c.section in already)
        ]
    counts = {"error": 0, "warning": 0, "info": 0}
    for item in report.get("findings") or []:
        severity = item.get("severity") if isinstance(item, dict) else None
        if severity in counts:
            counts[severity] += 1
    values = {
        "domain": domain,
        "checked_at": checked_at.astimezone(UTC),
        "status": str(report.get("status") or "unknown")[:16],
        "score": int(report.get("score") or 0),
        "grade": str(report.get("grade") or "F")[:2],
        "errors": counts["error"],
        "warnings": counts["warning"],
        "infos": counts["info"],
        "report": report,
        "changes": [c.to_dict() for c in changes],
    }
    audit_id = conn.execute(audits.insert().values(**values).returning(audits.c.id)).scalar_one()
    return _audit({**values, "id": audit_id})


def _previous_reports(
    conn: Connection, domain: str, before: datetime, limit: int
) -> list[dict[str, Any]]:
    """The reports of the domain's latest audits up to ``before``, newest first."""
    query = (
        sa.select(audits.c.report)
        .where(audits.c.domain == domain, audits.c.checked_at <= before)
        .order_by(audits.c.checked_at.desc(), audits.c.id.desc())
        .limit(limit)
    )
    return [row.report for row in conn.execute(query)]


def _audit(row: Row[Any] | dict[str, Any]) -> StoredAudit:
    data = dict(row._mapping) if isinstance(row, Row) else row
    return StoredAudit(
        id=int(data["id"]),
        domain=data["domain"],
        checked_at=from_store_time(data["checked_at"]),
        status=data["status"],
        score=int(data["score"]),
        grade=data["grade"],
        errors=int(data["errors"]),
        warnings=int(data["warnings"]),
        infos=int(data["infos"]),
        report=data["report"] if isinstance(data["report"], dict) else {},
        changes=[Change.from_dict(c) for c in data["changes"] or [] if isinstance(c, dict)],
    )


def latest_audits(conn: Connection, domains: Sequence[str] | None = None) -> dict[str, StoredAudit]:
    """The most recent audit of every audited domain (or of ``domains``), by domain."""
    latest = sa.select(
        audits.c.domain, sa.func.max(audits.c.checked_at).label("checked_at")
    ).group_by(audits.c.domain)
    if domains is not None:
        latest = latest.where(audits.c.domain.in_([normalize_name(d) for d in domains]))
    sub = latest.subquery()
    query = (
        sa.select(audits)
        .join(
            sub, sa.and_(audits.c.domain == sub.c.domain, audits.c.checked_at == sub.c.checked_at)
        )
        .order_by(audits.c.domain, audits.c.id)
    )
    return {row.domain: _audit(row) for row in conn.execute(query)}  # the last id wins a tie


def audit_history(
    conn: Connection, domain: str, *, limit: int = 50, since: datetime | None = None
) -> list[StoredAudit]:
    """A domain's audits, newest first (at most ``limit``, none before ``since``)."""
    query = (
        sa.select(audits)
        .where(audits.c.domain == normalize_name(domain))
        .order_by(audits.c.checked_at.desc(), audits.c.id.desc())
        .limit(limit)
    )
    if since is not None:
        query = query.where(audits.c.checked_at >= since)
    return [_audit(row) for row in conn.execute(query)]


def get_audit(conn: Connection, audit_id: int) -> StoredAudit | None:
    row = conn.execute(sa.select(audits).where(audits.c.id == audit_id)).first()
    return None if row is None else _audit(row)


def prune_audits(conn: Connection, keep_days: int, *, now: datetime) -> Pruned:
    """Delete audits and scores older than ``keep_days`` before ``now``, but never the latest
    audit and score of a domain: "what changed since the last audit" needs it."""
    if keep_days < 1:
        raise ValueError("keep_days must be at least 1")
    cutoff = now.astimezone(UTC) - timedelta(days=keep_days)
    results = []
    for table, time_column in ((audits, audits.c.checked_at), (scores, scores.c.at)):
        newest = sa.select(sa.func.max(table.c.id)).group_by(table.c.domain)
        deleted = conn.execute(
            table.delete().where(time_column < cutoff, table.c.id.not_in(newest.scalar_subquery()))
        )
        results.append(int(deleted.rowcount or 0))
    return Pruned(audits=results[0], scores=results[1])


def record_score(conn: Connection, score: DomainScore, *, audit_id: int | None = None) -> int:
    """Store a score with every part; returns its row id."""
    data = score.to_dict()
    return int(
        conn.execute(
            scores.insert()
            .values(
                domain=normalize_name(score.domain),
                at=score.at.astimezone(UTC),
                deliverability=score.deliverability,
                reputation=score.reputation,
                grade=score.grade,
                audit_id=audit_id,
                parts=data,
            )
            .returning(scores.c.id)
        ).scalar_one()
    )


def _score(row: Row[Any]) -> DomainScore:
    data = dict(row.parts) if isinstance(row.parts, dict) else {}
    data.update(domain=row.domain, at=_iso(from_store_time(row.at)))
    return DomainScore.from_dict(data)


def latest_scores(conn: Connection, domains: Sequence[str] | None = None) -> dict[str, DomainScore]:
    """The most recent score of every scored domain (or of ``domains``), by domain."""
    latest = sa.select(scores.c.domain, sa.func.max(scores.c.id).label("id")).group_by(
        scores.c.domain
    )
    if domains is not None:
        latest = latest.where(scores.c.domain.in_([normalize_name(d) for d in domains]))
    sub = latest.subquery()
    query = sa.select(scores).join(sub, scores.c.id == sub.c.id).order_by(scores.c.domain)
    return {row.domain: _score(row) for row in conn.execute(query)}


def score_history(
    conn: Connection, domain: str, since: datetime, until: datetime | None = None
) -> list[tuple[datetime, DomainScore]]:
    """A domain's scores from ``since`` (to ``until``), oldest first: a chart's series."""
    query = (
        sa.select(scores)
        .where(scores.c.domain == normalize_name(domain), scores.c.at >= since)
        .order_by(scores.c.at, scores.c.id)
    )
    if until is not None:
        query = query.where(scores.c.at < until)
    out = []
    for row in conn.execute(query):
        score = _score(row)
        out.append((score.at, score))
    return out


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")
