"""One evaluation cycle: signals → lifecycle → notices → outbox, all state in the store.

``evaluate`` reads the signals of every active rule (``collect.py``), then in ONE write
transaction steps every affected alert (``lifecycle.py``), records transitions, adds notices,
handles silences and escalation, and routes the notices that are due into the outbox
(``notify.outbox.enqueue``). A crash before the commit leaves the store as it was; after it,
the alert states and the outbox rows exist together. A new process (a restart) reads the
same rows, so it neither forgets an alert nor sends a notification twice.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from deliverwatch.alerts.collect import Collector, RuleSignals
from deliverwatch.alerts.config import RouteConfig
from deliverwatch.alerts.lifecycle import Step, Timing, step
from deliverwatch.alerts.messages import KIND_ORDER, build_notification
from deliverwatch.alerts.model import ACTIVE, Alert, Signal, iso
from deliverwatch.alerts.routing import (
    default_routes,
    group_key,
    is_held,
    release_time,
    routes_for,
    silence_matches,
)
from deliverwatch.alerts.store import (
    Silence,
    add_notices,
    list_silences,
    load_open_alerts,
    load_recently_resolved,
    record_transitions,
    save_alert,
)
from deliverwatch.clock import Clock
from deliverwatch.config import Config
from deliverwatch.store.engine import begin_write, from_store_time, upsert_insert
from deliverwatch.store.schema import alert_notices, alerts, store_meta

AUDIT_CURSOR = "alerts.audit_cursor"
ESCALATING = ("high", "critical")
#: Timing for alerts whose rule left the config: they clear at the next evaluation.
ORPHAN_TIMING = Timing(timedelta(0), timedelta(hours=4), 1)

_Transition = tuple[int, datetime, str, str | None, str | None, str | None, str | None]


@dataclass(slots=True)
class EvaluationResult:
    at: datetime
    rules: int = 0
    signals: int = 0
    active: int = 0
    opened: int = 0
    fired: int = 0
    resolved: int = 0
    reminders: int = 0
    escalations: int = 0
    notifications: int = 0
    held: int = 0
    silenced: int = 0
    open_alerts: int = 0
    seconds: float = 0.0
    errors: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["at"] = iso(self.at)
        data["seconds"] = round(self.seconds, 4)
        return data


def evaluate(engine: Engine, config: Config, clock: Clock) -> EvaluationResult:
    """One cycle over every active rule (see the module docstring)."""
    started = time.perf_counter()
    now = clock.now()
    settings = config.alerting
    rules = settings.active_rules()
    result = EvaluationResult(at=now, rules=len(rules))
    with engine.connect() as conn, conn.begin():
        opened = load_open_alerts(conn)
        open_domains: dict[str, set[str]] = defaultdict(set)
        for alert in opened.values():
            open_domains[alert.rule].add(alert.domain)
        cursor = _read_cursor(conn)
        collector = Collector(conn, now, [d.name for d in config.domains])
        outcomes = [collector.collect(r, open_domains[r.name], cursor) for r in rules]
    for outcome in outcomes:
        if outcome.error:
            result.errors[outcome.rule.name] = outcome.error
        result.signals += len(outcome.signals)
        result.active += sum(1 for s in outcome.signals if s.state == ACTIVE)
    with begin_write(engine) as conn:
        _Cycle(conn, config, now, result).run(outcomes)
    result.seconds = time.perf_counter() - started
    return result


class _Cycle:
    """The write half of one evaluation."""

    def __init__(self, conn: Connection, config: Config, now: datetime, result: EvaluationResult):
        self.conn = conn
        self.config = config
        self.settings = config.alerting
        self.now = now
        self.result = result
        self.transitions: list[_Transition] = []
        self.dirty: dict[int, Alert] = {}
        channels = [c.name for c in config.notifications.channels]
        self.routes = default_routes(self.settings.routes, channels)
        self.route_by_name = {r.name: r for r in self.routes}

    def run(self, outcomes: list[RuleSignals]) -> None:
        open_alerts = load_open_alerts(self.conn)
        #: alerts with a notice still waiting (quiet hours, group_wait): no reminders on top
        self.waiting = set(self.conn.execute(sa.select(alert_notices.c.alert_id)).scalars())
        evaluated = set()
        for outcome in outcomes:
            evaluated.add(outcome.rule.name)
            self._apply(outcome, open_alerts)
            if outcome.rule.kind == "regression" and outcome.cursor is not None:
                _write_cursor(self.conn, outcome.cursor)
        for alert in list(open_alerts.values()):
            if alert.rule not in evaluated and alert.is_open:
                self._take(step(alert, None, ORPHAN_TIMING, self.now), open_alerts)
        silences = list_silences(self.conn, now=self.now)
        for alert in open_alerts.values():
            if alert.state == "firing":
                self._unsilence(alert, silences)
                self._escalate(alert)
        self._flush()
        self._dispatch(silences)
        self._flush()
        self.conn.execute(
            sa.update(alerts)
            .where(alerts.c.open_key.is_not(None))
            .values(last_evaluated_at=self.now)
        )
        self.result.open_alerts = sum(1 for a in open_alerts.values() if a.is_open)

    # -- lifecycle ----------------------------------------------------------------------------

    def _apply(self, outcome: RuleSignals, open_alerts: dict[str, Alert]) -> None:
        rule = outcome.rule
        timing = Timing(
            rule.for_,
            rule.repeat_interval,
            rule.clear_after,
            self.settings.flap_window,
            self.settings.max_flap_factor,
        )
        signals: dict[str, Signal] = {}
        for signal in outcome.signals:
            signals.setdefault(signal.fingerprint, signal)
        new = [fp for fp, s in signals.items() if s.state == ACTIVE and fp not in open_alerts]
        recent = (
            load_recently_resolved(self.conn, new, self.now - self.settings.flap_window)
            if new
            else {}
        )
        for fp, signal in signals.items():
            alert = open_alerts.get(fp)
            if alert is None and signal.state != ACTIVE:
                continue
            self._take(
                step(alert, signal, timing, self.now, recently_resolved=recent.get(fp)), open_alerts
            )
        for fp, alert in list(open_alerts.items()):
            if alert.rule != rule.name or fp in signals or not alert.is_open:
                continue
            if outcome.scope is not None and alert.domain not in outcome.scope:
                continue
            self._take(step(alert, None, timing, self.now), open_alerts)

    def _take(self, result: Step, open_alerts: dict[str, Alert]) -> None:
        if not result.changed:
            return
        alert = result.alert
        for event, _before, _after in result.transitions:
            if event in ("pending", "reopened"):
                self.result.opened += 1
            elif event == "firing":
                self.result.fired += 1
            elif event == "resolved":
                self.result.resolved += 1
            elif event == "reminder":
                self.result.reminders += 1
        if result.delete:  # a pending alert that went away: no trace worth keeping
            if alert is not None and alert.id is not None:
                self.conn.execute(sa.delete(alerts).where(alerts.c.id == alert.id))
                open_alerts.pop(alert.fingerprint, None)
            return
        assert alert is not None
        if "reminder" in result.notices and alert.id in self.waiting:
            result.notices.remove("reminder")  # the waiting notice says it all
            result.transitions.remove(("reminder", None, None))
            self.result.reminders -= 1
            alert.last_notified_at = self.now
        if any(kind in ("firing", "reminder") for kind in result.notices):
            alert.last_notified_at = self.now
        save_alert(self.conn, alert)
        assert alert.id is not None
        open_alerts[alert.fingerprint] = alert
        self.transitions += [
            (alert.id, self.now, event, before, after, None, None)
            for event, before, after in result.transitions
        ]
        add_notices(self.conn, [(alert.id, kind, None, self.now) for kind in result.notices])

    def _unsilence(self, alert: Alert, silences: list[Silence]) -> None:
        """A firing alert whose notifications a silence ate, now unsilenced: tell people."""
        if not alert.silenced or any(silence_matches(s.matchers, alert.labels()) for s in silences):
            return
        assert alert.id is not None
        alert.silenced = False
        alert.last_notified_at = self.now
        self.dirty[alert.id] = alert
        self.transitions.append((alert.id, self.now, "unsilenced", None, None, None, None))
        add_notices(self.conn, [(alert.id, "firing", None, self.now)])

    def _escalate(self, alert: Alert) -> None:
        if (
            alert.severity not in ESCALATING
            or alert.acknowledged_at is not None
            or alert.escalated_at is not None
            or alert.fired_at is None
        ):
            return
        assert alert.id is not None
        for route in routes_for(self.routes, alert.labels()):
            if route.escalate_to is None or self.now - alert.fired_at < route.escalate_after:
                continue
            alert.escalated_at = self.now
            self.dirty[alert.id] = alert
            self.result.escalations += 1
            self.transitions.append(
                (alert.id, self.now, "escalated", None, None, None, f"to route {route.escalate_to}")
            )
            add_notices(self.conn, [(alert.id, "escalation", route.escalate_to, self.now)])

    # -- notices → outbox -----------------------------------------------------------------------

    def _dispatch(self, silences: list[Silence]) -> None:
        from deliverwatch.notify.outbox import enqueue

        rows = self.conn.execute(
            sa.select(alert_notices, alerts)
            .join(alerts, alerts.c.id == alert_notices.c.alert_id)
            .order_by(alert_notices.c.id)
        ).all()
        if not rows:
            return
        from deliverwatch.alerts.store import alert_from_row

        loaded: dict[int, Alert] = {}
        ready: dict[tuple[str, str, str], dict[int, Alert]] = defaultdict(dict)
        waiting: list[tuple[tuple[str, str, str], Alert, datetime, datetime]] = []
        done: list[int] = []
        for row in rows:
            m = row._mapping
            notice_id, kind = int(m[alert_notices.c.id]), str(m[alert_notices.c.kind])
            done.append(notice_id)
            alert_id = int(m[alerts.c.id])
            alert = self.dirty.get(alert_id) or loaded.get(alert_id)
            if alert is None:
                alert = loaded[alert_id] = alert_from_row(_alert_row(m))
            created = from_store_time(m[alert_notices.c.created_at])
            named = m[alert_notices.c.route]
            labels = alert.labels()
            routes = (
                [self.route_by_name[named]]
                if named in self.route_by_name
                else routes_for(self.routes, labels)
            )
            if any(silence_matches(s.matchers, labels) for s in silences):
                self._silenced(alert, kind)
                continue
            if kind == "resolved" and alert.silenced:
                continue  # nobody was told it fired, or a silence hid the rest
            for route in routes:
                key = (route.name, group_key(route, labels), kind)
                due = self._due(route, kind, alert.severity, created)
                assert alert.id is not None
                if due > self.now:
                    waiting.append((key, alert, created, due))
                else:
                    ready[key][alert.id] = alert
        held: list[dict[str, Any]] = []
        for key, alert, created, due in waiting:
            route = self.route_by_name[key[0]]
            if key in ready and not is_held(route, alert.severity, self.now):
                ready[key][alert.id or 0] = alert  # its group goes now: it joins (group_wait)
                continue
            held.append(
                {
                    "alert_id": alert.id,
                    "kind": key[2],
                    "route": key[0],
                    "created_at": created,
                    "due_at": due,
                }
            )
        if done:
            for start in range(0, len(done), 500):
                self.conn.execute(
                    sa.delete(alert_notices).where(
                        alert_notices.c.id.in_(done[start : start + 500])
                    )
                )
        if held:
            self.conn.execute(sa.insert(alert_notices), held)
            self.result.held += len(held)
        link = self.config.notifications.dashboard_url
        order = {kind: i for i, kind in enumerate(KIND_ORDER)}
        for (route_name, group, kind), members in sorted(
            ready.items(), key=lambda item: (order.get(item[0][2], 9), item[0][:2])
        ):
            route = self.route_by_name[route_name]
            alerts_of = sorted(members.values(), key=lambda a: a.id or 0)
            notification = build_notification(kind, route_name, group, alerts_of, self.now, link)
            enqueue(self.conn, notification, route.channels, self.now)
            self.result.notifications += 1
            note = f"{kind} via {route_name}: {', '.join(route.channels) or 'no channels'}"
            for alert in alerts_of:
                assert alert.id is not None
                self.transitions.append((alert.id, self.now, "notified", None, None, None, note))
                if kind in ("firing", "reminder") and alert.last_notified_at != self.now:
                    alert.last_notified_at = self.now  # reminders count from the delivery
                    self.dirty[alert.id] = alert

    def _due(self, route: RouteConfig, kind: str, severity: str, created: datetime) -> datetime:
        start = created + route.group_wait if kind == "firing" else created
        return release_time(route, severity, max(start, self.now))

    def _silenced(self, alert: Alert, kind: str) -> None:
        assert alert.id is not None
        self.result.silenced += 1
        self.transitions.append((alert.id, self.now, "silenced", None, None, None, kind))
        if kind in ("firing", "reminder", "escalation") and not alert.silenced:
            alert.silenced = True
            self.dirty[alert.id] = alert

    def _flush(self) -> None:
        for alert in self.dirty.values():
            save_alert(self.conn, alert)
        self.dirty.clear()
        record_transitions(self.conn, self.transitions)
        self.transitions = []


def _alert_row(mapping: Any) -> Any:
    """The alert columns of a notice ⋈ alert row, as attributes."""

    class _Row:
        pass

    row = _Row()
    for column in alerts.c:
        setattr(row, column.name, mapping[column])
    return row


def _read_cursor(conn: Connection) -> int:
    value = conn.execute(
        sa.select(store_meta.c.value).where(store_meta.c.key == AUDIT_CURSOR)
    ).scalar_one_or_none()
    return int(value) if value else 0


def _write_cursor(conn: Connection, cursor: int) -> None:
    stmt = upsert_insert(conn, store_meta).values(key=AUDIT_CURSOR, value=str(cursor))
    conn.execute(
        stmt.on_conflict_do_update(index_elements=["key"], set_={"value": stmt.excluded.value})
    )
