"""What the read model and the dashboard take from the audit history, alert, placement and
API-token modules, each behind one small function.

Objects are turned into plain dicts and small records here, in one place, so the views do
not depend on the exact classes of those modules.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from deliverwatch.clock import Clock

HISTORY_MODULES = (
    "deliverwatch.history",
    "deliverwatch.history.store",
    "deliverwatch.store.audits",
)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One stored audit: the report as ``check --format json`` gives it, and what changed."""

    domain: str
    checked_at: datetime
    status: str
    report: dict[str, Any]
    changes: list[dict[str, Any]] = field(default_factory=list)
    id: Any = None


@dataclass(frozen=True, slots=True)
class ScoreRecord:
    deliverability: float | None
    reputation: float | None
    grade: str | None
    parts: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class TokenIdentity:
    name: str
    read_only: bool
    id: int = 0


def as_dict(value: Any) -> dict[str, Any]:
    """A JSON-safe dict of a record with ``to_dict()``, a dataclass or a mapping."""
    if hasattr(value, "to_dict"):
        data = value.to_dict()
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        data = dataclasses.asdict(value)
    elif isinstance(value, Mapping):
        data = dict(value)
    else:
        data = {"value": value}
    return {str(k): json_safe(v) for k, v in data.items()}


def json_safe(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    if hasattr(value, "to_dict"):
        return as_dict(value)
    return value


def iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, str) and value:
        try:
            return parse_time(datetime.fromisoformat(value.replace("Z", "+00:00")))
        except ValueError:
            return None
    return None


# -- audit history and scores (helper "history") ----------------------------------------------


def _audit(value: Any) -> AuditRecord:
    return AuditRecord(
        domain=str(value.domain),
        checked_at=parse_time(value.checked_at) or datetime.fromtimestamp(0, UTC),
        status=str(value.status),
        report=dict(value.report or {}),
        changes=[as_dict(change) for change in (value.changes or [])],
        id=getattr(value, "id", None),
    )


def latest_audits(conn: Connection, domains: Sequence[str] | None = None) -> dict[str, AuditRecord]:
    from deliverwatch.history import store

    return {str(d): _audit(audit) for d, audit in store.latest_audits(conn, domains).items()}


def latest_audit_heads(conn: Connection) -> dict[str, AuditRecord]:
    """The latest audit of every domain without its report body, only the figures the
    overview shows (score and grade go into ``report``): one indexed query, no JSON."""
    from deliverwatch.store.engine import from_store_time
    from deliverwatch.store.schema import audits

    latest = (
        sa.select(audits.c.domain, sa.func.max(audits.c.id).label("id"))
        .group_by(audits.c.domain)
        .subquery()
    )
    query = sa.select(
        audits.c.id,
        audits.c.domain,
        audits.c.checked_at,
        audits.c.status,
        audits.c.score,
        audits.c.grade,
    ).join(latest, audits.c.id == latest.c.id)
    return {
        row.domain: AuditRecord(
            domain=row.domain,
            checked_at=from_store_time(row.checked_at),
            status=row.status,
            report={"score": row.score, "grade": row.grade},
            id=row.id,
        )
        for row in conn.execute(query)
    }


def audit_history(conn: Connection, domain: str, *, limit: int = 20) -> list[AuditRecord]:
    from deliverwatch.history import store

    return [_audit(audit) for audit in store.audit_history(conn, domain, limit=limit)]


def _score(value: Any) -> ScoreRecord:
    def number(name: str) -> float | None:
        found = getattr(value, name, None)
        return float(found) if isinstance(found, int | float) else None

    grade = getattr(value, "grade", None)
    return ScoreRecord(
        deliverability=number("deliverability"),
        reputation=number("reputation"),
        grade=str(grade) if grade is not None else None,
        parts=[as_dict(part) for part in (getattr(value, "parts", None) or [])],
    )


def latest_scores(conn: Connection, domains: Sequence[str] | None = None) -> dict[str, ScoreRecord]:
    from deliverwatch.history import store

    return {str(d): _score(score) for d, score in store.latest_scores(conn, domains).items()}


def score_history(conn: Connection, domain: str, since: datetime) -> list[tuple[datetime, float]]:
    from deliverwatch.history import store

    points = []
    for at, score in store.score_history(conn, domain, since):
        value = _score(score).deliverability
        if value is not None:
            points.append((at, value))
    return points


# -- alerts (helper "alerts") -------------------------------------------------------------------


def list_alerts(
    conn: Connection, *, state: str | None = None, domain: str | None = None, limit: int = 200
) -> list[dict[str, Any]]:
    from deliverwatch.alerts import store

    return [as_dict(a) for a in store.list_alerts(conn, state=state, domain=domain, limit=limit)]


def active_alert_counts(conn: Connection) -> dict[str, dict[str, int]]:
    """Firing alerts per domain and severity (acknowledged ones included): one grouped query,
    not every alert's evidence."""
    from deliverwatch.store.schema import alerts

    query = (
        sa.select(alerts.c.domain, alerts.c.severity, sa.func.count())
        .where(alerts.c.state == "firing")
        .group_by(alerts.c.domain, alerts.c.severity)
    )
    counts: dict[str, dict[str, int]] = {}
    for domain, severity, n in conn.execute(query):
        counts.setdefault(str(domain), {})[str(severity)] = int(n)
    rank = {severity: n for n, severity in enumerate(("critical", "high", "warning", "info"))}
    return {
        domain: dict(sorted(found.items(), key=lambda item: rank.get(item[0], 9)))
        for domain, found in counts.items()
    }


def list_silences(conn: Connection, now: datetime) -> list[dict[str, Any]]:
    from deliverwatch.alerts import store

    return [as_dict(silence) for silence in store.list_silences(conn, active_only=True, now=now)]


def acknowledge(engine: Engine, alert_id: int, by: str, clock: Clock) -> bool:
    """False when there is no such alert; ValueError when it is resolved."""
    from deliverwatch.alerts import store

    return store.acknowledge(engine, alert_id, by, clock) is not None


def add_silence(
    engine: Engine,
    matchers: dict[str, str],
    ends_at: datetime,
    created_by: str,
    comment: str,
    clock: Clock,
) -> dict[str, Any]:
    """ValueError for an unknown matcher or an end in the past."""
    from deliverwatch.alerts import store

    return as_dict(store.add_silence(engine, matchers, ends_at, created_by, comment, clock))


def remove_silence(engine: Engine, silence_id: int, clock: Clock) -> bool:
    from deliverwatch.alerts import store

    return store.remove_silence(engine, silence_id, clock)


# -- placement (helper "placement") -------------------------------------------------------------


def latest_placement(conn: Connection) -> dict[str, Any] | None:
    from deliverwatch.placement import store

    run = store.latest_placement(conn)
    return None if run is None else as_dict(run)


# -- API tokens (lead) ----------------------------------------------------------------------


def verify_token(conn: Connection, token: str) -> TokenIdentity | None:
    """The token's name and whether it is read-only; None when unknown or revoked."""
    from deliverwatch.store.apitokens import verify_token as verify

    found = verify(conn, token)
    if found is None:
        return None
    return TokenIdentity(name=found.name, read_only=found.read_only, id=found.id)


def token_active(conn: Connection, token_id: int) -> bool:
    """Whether the token a session was made with is still active (not revoked)."""
    from deliverwatch.store.apitokens import get_token

    found = get_token(conn, token_id)
    return found is not None and found.active
