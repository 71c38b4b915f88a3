"""Forwarding to Prometheus Alertmanager: ``POST /api/v2/alerts`` with a list of alerts.

Alertmanager identifies an alert by its label set, so the labels here are stable across the
notifications of one problem (alertname, severity, domain, the fingerprint, the alert's own
labels) and the changing text goes to annotations. A resolved alert is sent with ``endsAt``
= when it resolved (the notification's time, or the member's ``resolved_at``; never later
than now): Alertmanager takes an alert as resolved only when ``endsAt`` is not in the future
by its own clock, and otherwise keeps the later ``endsAt`` of the firing alert. A firing one
gets ``endsAt`` = now + ``firing_ttl_seconds``: Alertmanager resolves an alert by itself once
``endsAt`` passes, so the TTL must be longer than the route's ``repeat_interval`` (the
reminders refresh it).

With several ``urls`` (an HA cluster) every instance is sent the alerts, as Prometheus does;
the cluster shares them by gossip, so one instance accepting them is a delivery. Digests are
not alerts and are refused (a permanent error, shown in ``notify outbox``).
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from typing import Any

from deliverwatch.notify import render
from deliverwatch.notify.channels.base import ChannelError, PermanentError, TemporaryError
from deliverwatch.notify.channels.context import ChannelContext
from deliverwatch.notify.config import AlertmanagerChannelConfig
from deliverwatch.notify.model import Notification

API_PATH = "/api/v2/alerts"
TEST_TTL = timedelta(minutes=5)
_LABEL_NAME = re.compile(r"[^a-zA-Z0-9_]")


def alerts_url(base: str) -> str:
    base = base.rstrip("/")
    return base if base.endswith(API_PATH) else base + API_PATH


def label_name(name: str) -> str:
    """A valid Prometheus label name (``[a-zA-Z_][a-zA-Z0-9_]*``)."""
    cleaned = _LABEL_NAME.sub("_", name)
    return cleaned if cleaned and not cleaned[0].isdigit() else f"_{cleaned}"


def render_alertmanager(
    n: Notification, now: datetime, firing_ttl: timedelta = timedelta(days=1)
) -> list[dict[str, Any]]:
    """The alert list for ``n``: one per grouped member, or one for ``n`` itself."""
    if n.alerts:
        return [_member(n, alert, now, firing_ttl) for alert in n.alerts]
    resolved = n.is_resolved
    ttl = TEST_TTL if n.kind == "test" else firing_ttl
    labels = _labels(n, n.labels, n.fingerprint, n.severity, n.domain)
    annotations = {
        "summary": render.headline(n),
        "description": n.summary,
        **_sections(n),
    }
    return [_alert(labels, annotations, n.created_at, now, resolved, ttl, n.link, n.created_at)]


def _member(
    n: Notification, alert: dict[str, Any], now: datetime, ttl: timedelta
) -> dict[str, Any]:
    fingerprint = str(alert.get("fingerprint") or n.fingerprint)
    severity = str(alert.get("severity") or n.severity)
    member_labels = {str(k): str(v) for k, v in (alert.get("labels") or {}).items()}
    if alert.get("rule"):
        member_labels.setdefault("alertname", str(alert["rule"]))
    if alert.get("provider"):
        member_labels.setdefault("provider", str(alert["provider"]))
    labels = _labels(n, member_labels, fingerprint, severity, alert.get("domain") or n.domain)
    evidence = alert.get("evidence")
    annotations = {
        "summary": str(alert.get("summary") or render.headline(n)),
        "description": n.summary,
        **_sections(n),
    }
    if isinstance(evidence, list) and evidence:
        annotations["evidence"] = "\n".join(str(x) for x in evidence)
    started = _time(alert.get("started_at") or alert.get("fired_at")) or n.created_at
    resolved = n.is_resolved or alert.get("state") == "resolved"
    resolved_at = _time(alert.get("resolved_at")) or n.created_at
    return _alert(labels, annotations, started, now, resolved, ttl, n.link, resolved_at)


def _labels(
    n: Notification, extra: dict[str, str], fingerprint: str, severity: str, domain: str | None
) -> dict[str, str]:
    labels = {label_name(k): v for k, v in extra.items() if v}
    labels.setdefault("alertname", "deliverwatch_test" if n.kind == "test" else "deliverwatch")
    labels["severity"] = severity
    labels["dw_fingerprint"] = fingerprint
    if domain:
        labels["domain"] = domain
    return labels


def _sections(n: Notification) -> dict[str, str]:
    out = {label_name(s.title.lower()): "\n".join(s.lines) for s in render.sections(n)}
    if n.kind == "acknowledged":
        out["acknowledged"] = n.summary
    return out


def _alert(
    labels: dict[str, str],
    annotations: dict[str, str],
    started: datetime,
    now: datetime,
    resolved: bool,
    ttl: timedelta,
    link: str | None,
    resolved_at: datetime,
) -> dict[str, Any]:
    ends = min(resolved_at, now) if resolved else now + ttl
    alert: dict[str, Any] = {
        "labels": labels,
        "annotations": {k: v for k, v in annotations.items() if v},
        "startsAt": min(started, now).isoformat(),
        "endsAt": ends.isoformat(),
    }
    if link:
        alert["annotations"]["dashboard"] = link
        alert["generatorURL"] = link
    return alert


def _time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, str) and value:
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            return None
    return None


class AlertmanagerChannel:
    def __init__(self, config: AlertmanagerChannelConfig, context: ChannelContext) -> None:
        self.name = config.name
        self._config = config
        self._context = context

    async def send(self, notification: Notification) -> None:
        if notification.kind == "digest":
            raise PermanentError("Alertmanager takes alerts, not a digest")
        now = self._context.clock.now()
        ttl = timedelta(seconds=self._config.firing_ttl_seconds)
        body = json.dumps(render_alertmanager(notification, now, ttl)).encode()
        headers = {}
        if self._config.token:
            headers["Authorization"] = f"Bearer {self._config.token.get_secret_value()}"
        errors: list[ChannelError] = []
        accepted = 0
        for index, url in enumerate(self._config.all_urls, 1):
            try:
                await self._context.http.post(
                    alerts_url(url),
                    body,
                    headers=headers,
                    timeout=self._config.timeout,
                    max_bytes=self._context.max_response_bytes,
                    now=now,
                )
                accepted += 1
            except ChannelError as exc:
                errors.append(exc)
                if len(self._config.all_urls) > 1:
                    exc.args = (f"instance {index}: {exc}",)
        if accepted:
            return  # the cluster gossips the alerts to the instances that missed them
        message = "; ".join(str(e) for e in errors)
        if all(e.permanent for e in errors):
            raise PermanentError(message)
        waits = [e.retry_after for e in errors if isinstance(e, TemporaryError) and e.retry_after]
        raise TemporaryError(message, retry_after=min(waits) if waits else None)
