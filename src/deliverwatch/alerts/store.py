"""Alerts, their transitions, silences and pending notices in the store (SQLAlchemy Core).

The actions people take (acknowledge, resolve, silence) change the alert and record a
transition and a notice in one transaction; the next evaluation routes the notice to the
outbox (these functions have no routes at hand). So an acknowledgement is never lost, and
PagerDuty hears of it within one evaluation interval.

    with engine.connect() as conn:
        firing = list_alerts(conn, state="firing")
    acknowledge(engine, firing[0].id, "alice", clock)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from deliverwatch.alerts.model import Alert, iso
from deliverwatch.clock import Clock
from deliverwatch.store.engine import begin_write, from_store_time
from deliverwatch.store.schema import alert_notices, alert_silences, alert_transitions, alerts

OPEN_STATES = ("pending", "firing")
SILENCE_KEYS = ("domain", "rule", "kind", "severity", "mailbox_provider", "subject", "fingerprint")


@dataclass(frozen=True, slots=True)
class Silence:
    id: int
    matchers: dict[str, str]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    created_at: datetime
    removed_at: datetime | None = None

    def active(self, now: datetime) -> bool:
        return self.removed_at is None and self.starts_at <= now < self.ends_at

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "matchers": dict(self.matchers),
            "starts_at": iso(self.starts_at),
            "ends_at": iso(self.ends_at),
            "created_by": self.created_by,
            "comment": self.comment,
            "created_at": iso(self.created_at),
            "removed_at": iso(self.removed_at),
        }


@dataclass(frozen=True, slots=True)
class Transition:
    at: datetime
    event: str
    from_state: str | None
    to_state: str | None
    actor: str | None
    note: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": iso(self.at),
            "event": self.event,
            "from": self.from_state,
            "to": self.to_state,
            "actor": self.actor,
            "note": self.note,
        }


# -- rows ↔ alerts ----------------------------------------------------------------------------


def _time(value: datetime | None) -> datetime | None:
    return None if value is None else from_store_time(value)


def alert_from_row(row: Any) -> Alert:
    return Alert(
        id=int(row.id),
        fingerprint=row.fingerprint,
        rule=row.rule,
        kind=row.kind,
        domain=row.domain,
        provider=row.provider,
        subject=row.subject,
        severity=row.severity,
        state=row.state,
        summary=row.summary,
        evidence=list(row.evidence or []),
        details=dict(row.details or {}),
        started_at=from_store_time(row.started_at),
        last_evaluated_at=from_store_time(row.last_evaluated_at),
        fired_at=_time(row.fired_at),
        resolved_at=_time(row.resolved_at),
        resolved_by=row.resolved_by,
        acknowledged_at=_time(row.acknowledged_at),
        acknowledged_by=row.acknowledged_by,
        last_active_at=_time(row.last_active_at),
        last_notified_at=_time(row.last_notified_at),
        escalated_at=_time(row.escalated_at),
        silenced=bool(row.silenced),
        clear_count=int(row.clear_count),
        flap_count=int(row.flap_count),
    )


def alert_values(alert: Alert) -> dict[str, Any]:
    return {
        "fingerprint": alert.fingerprint,
        "open_key": alert.fingerprint if alert.is_open else None,
        "rule": alert.rule,
        "kind": alert.kind,
        "domain": alert.domain,
        "provider": alert.provider,
        "subject": alert.subject,
        "severity": alert.severity,
        "state": alert.state,
        "summary": alert.summary,
        "evidence": list(alert.evidence),
        "details": alert.details,
        "started_at": alert.started_at,
        "fired_at": alert.fired_at,
        "resolved_at": alert.resolved_at,
        "resolved_by": alert.resolved_by,
        "acknowledged_at": alert.acknowledged_at,
        "acknowledged_by": alert.acknowledged_by,
        "last_evaluated_at": alert.last_evaluated_at,
        "last_active_at": alert.last_active_at,
        "last_notified_at": alert.last_notified_at,
        "escalated_at": alert.escalated_at,
        "silenced": alert.silenced,
        "clear_count": alert.clear_count,
        "flap_count": alert.flap_count,
    }


def save_alert(conn: Connection, alert: Alert) -> Alert:
    """Insert (id None) or update ``alert``; sets its id."""
    values = alert_values(alert)
    if alert.id is None:
        inserted = conn.execute(sa.insert(alerts).values(**values).returning(alerts.c.id))
        alert.id = int(inserted.scalar_one())
    else:
        conn.execute(sa.update(alerts).where(alerts.c.id == alert.id).values(**values))
    return alert


def record_transitions(
    conn: Connection,
    rows: Iterable[tuple[int, datetime, str, str | None, str | None, str | None, str | None]],
) -> None:
    """(alert id, at, event, from, to, actor, note) rows."""
    values = [
        {
            "alert_id": a,
            "at": at,
            "event": e,
            "from_state": f,
            "to_state": t,
            "actor": who,
            "note": n,
        }
        for a, at, e, f, t, who, n in rows
    ]
    if values:
        conn.execute(sa.insert(alert_transitions), values)


def add_notices(conn: Connection, rows: Iterable[tuple[int, str, str | None, datetime]]) -> None:
    """(alert id, kind, route or None, created at) rows."""
    values = [
        {"alert_id": a, "kind": k, "route": r, "created_at": at, "due_at": None}
        for a, k, r, at in rows
    ]
    if values:
        conn.execute(sa.insert(alert_notices), values)


def load_open_alerts(conn: Connection) -> dict[str, Alert]:
    """Every open (pending or firing) alert, by fingerprint."""
    query = sa.select(alerts).where(alerts.c.open_key.is_not(None))
    return {row.fingerprint: alert_from_row(row) for row in conn.execute(query)}


def load_recently_resolved(
    conn: Connection, fingerprints: Sequence[str], since: datetime
) -> dict[str, Alert]:
    """The latest alert of each fingerprint that resolved by itself at or after ``since``."""
    found: dict[str, Alert] = {}
    for start in range(0, len(fingerprints), 500):
        chunk = list(fingerprints[start : start + 500])
        query = (
            sa.select(alerts)
            .where(
                alerts.c.fingerprint.in_(chunk),
                alerts.c.resolved_at >= since,
                alerts.c.resolved_by == "auto",  # one resolved by hand is closed for good
            )
            .order_by(alerts.c.resolved_at)
        )
        for row in conn.execute(query):
            found[row.fingerprint] = alert_from_row(row)
    return found


# -- reading ----------------------------------------------------------------------------------


def list_alerts(
    conn: Connection,
    *,
    state: str | None = None,
    domain: str | None = None,
    limit: int = 100,
) -> list[Alert]:
    """Alerts newest first; ``state`` pending|firing|resolved, or ``open`` for both open ones."""
    query = sa.select(alerts).order_by(alerts.c.started_at.desc(), alerts.c.id.desc()).limit(limit)
    if state == "open":
        query = query.where(alerts.c.open_key.is_not(None))
    elif state is not None:
        query = query.where(alerts.c.state == state)
    if domain is not None:
        query = query.where(alerts.c.domain == domain.strip().rstrip(".").lower())
    return [alert_from_row(row) for row in conn.execute(query)]


def get_alert(conn: Connection, alert_id: int) -> Alert | None:
    row = conn.execute(sa.select(alerts).where(alerts.c.id == alert_id)).first()
    return None if row is None else alert_from_row(row)


def alert_transitions_of(conn: Connection, alert_id: int) -> list[Transition]:
    query = (
        sa.select(alert_transitions)
        .where(alert_transitions.c.alert_id == alert_id)
        .order_by(alert_transitions.c.at, alert_transitions.c.id)
    )
    return [
        Transition(from_store_time(r.at), r.event, r.from_state, r.to_state, r.actor, r.note)
        for r in conn.execute(query)
    ]


# -- actions ----------------------------------------------------------------------------------


def acknowledge(engine: Engine, alert_id: int, by: str, clock: Clock) -> Alert | None:
    """Acknowledge an open alert: no more reminders, no escalation. None: no such alert;
    ValueError: it is resolved. Acknowledging twice keeps the first acknowledgement."""
    now = clock.now()
    with begin_write(engine) as conn:
        alert = get_alert(conn, alert_id)
        if alert is None:
            return None
        if not alert.is_open:
            raise ValueError(f"alert {alert_id} is resolved")
        if alert.acknowledged_at is not None:
            return alert
        alert.acknowledged_at = now
        alert.acknowledged_by = by
        save_alert(conn, alert)
        record_transitions(conn, [(alert_id, now, "acknowledged", None, None, by, None)])
        if alert.state == "firing":
            add_notices(conn, [(alert_id, "acknowledged", None, now)])
        return alert


def resolve(engine: Engine, alert_id: int, by: str, clock: Clock) -> Alert | None:
    """Resolve an open alert by hand (a resolved notice follows if it had fired). If the
    signal is still active, the next evaluation starts a new alert. None: no such alert;
    ValueError: already resolved."""
    now = clock.now()
    with begin_write(engine) as conn:
        alert = get_alert(conn, alert_id)
        if alert is None:
            return None
        if not alert.is_open:
            raise ValueError(f"alert {alert_id} is already resolved")
        was = alert.state
        alert.state = "resolved"
        alert.resolved_at = now
        alert.resolved_by = by
        save_alert(conn, alert)
        record_transitions(conn, [(alert_id, now, "resolved", was, "resolved", by, None)])
        if was == "firing":
            add_notices(conn, [(alert_id, "resolved", None, now)])
        return alert


def add_silence(
    engine: Engine,
    matchers: Mapping[str, str],
    ends_at: datetime,
    created_by: str,
    comment: str,
    clock: Clock,
) -> Silence:
    """Silence alerts whose labels match every matcher (values may be shell patterns) until
    ``ends_at``. Silenced alerts still change state; they send nothing."""
    now = clock.now()
    cleaned = {str(k): str(v) for k, v in matchers.items()}
    if not cleaned:
        raise ValueError("a silence needs at least one matcher")
    unknown = sorted(set(cleaned) - set(SILENCE_KEYS))
    if unknown:
        raise ValueError(
            f"unknown matcher(s) {', '.join(unknown)}; known: {', '.join(SILENCE_KEYS)}"
        )
    if ends_at <= now:
        raise ValueError("a silence must end in the future")
    values = {
        "matchers": cleaned,
        "starts_at": now,
        "ends_at": ends_at,
        "created_by": created_by,
        "comment": comment,
        "created_at": now,
        "removed_at": None,
    }
    with begin_write(engine) as conn:
        inserted = conn.execute(
            sa.insert(alert_silences).values(**values).returning(alert_silences.c.id)
        )
        silence_id = int(inserted.scalar_one())
    return Silence(silence_id, cleaned, now, ends_at, created_by, comment, now)


def remove_silence(engine: Engine, silence_id: int, clock: Clock) -> bool:
    """End an active silence now; False when there is no such active silence."""
    now = clock.now()
    with begin_write(engine) as conn:
        done = conn.execute(
            sa.update(alert_silences)
            .where(
                alert_silences.c.id == silence_id,
                alert_silences.c.removed_at.is_(None),
                alert_silences.c.ends_at > now,
            )
            .values(removed_at=now)
        ).rowcount
    return bool(done)


def list_silences(
    conn: Connection, *, active_only: bool = True, now: datetime | None = None
) -> list[Silence]:
    """Silences newest first; ``active_only``: those not removed and not yet ended (at
    ``now``, else the database's idea of the present is not used: pass ``now`` from a clock
    for exactness; without it, silences not removed and ending in the future by UTC now)."""
    query = sa.select(alert_silences).order_by(alert_silences.c.id.desc())
    if active_only:
        query = query.where(alert_silences.c.removed_at.is_(None))
    silences = [_silence(row) for row in conn.execute(query)]
    if not active_only:
        return silences
    if now is None:
        from deliverwatch.clock import SystemClock

        now = SystemClock().now()
    return [s for s in silences if s.active(now)]


def _silence(row: Any) -> Silence:
    return Silence(
        id=int(row.id),
        matchers={str(k): str(v) for k, v in (row.matchers or {}).items()},
        starts_at=from_store_time(row.starts_at),
        ends_at=from_store_time(row.ends_at),
        created_by=row.created_by,
        comment=row.comment,
        created_at=from_store_time(row.created_at),
        removed_at=_time(row.removed_at),
    )
