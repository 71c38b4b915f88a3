"""PagerDuty Events API v2: trigger, acknowledge and resolve with the fingerprint as the
``dedup_key``, so the incident a firing alert opens is the one its resolution closes.

PagerDuty answers 202; 400 is an invalid event (permanent); 429 means the integration is
throttled (retry later). A ``test`` notification triggers and at once resolves an incident
with its own key, so ``notify test`` leaves nothing open. Digests are not incidents: a route
that sends one here gets a permanent error, shown in ``notify outbox``.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from deliverwatch.notify import render
from deliverwatch.notify.channels.base import PermanentError
from deliverwatch.notify.channels.context import ChannelContext
from deliverwatch.notify.config import PagerDutyChannelConfig
from deliverwatch.notify.model import Notification

EventAction = Literal["trigger", "acknowledge", "resolve"]
#: Our severities onto PagerDuty's four (critical, error, warning, info).
SEVERITY = {"info": "info", "warning": "warning", "high": "error", "critical": "critical"}
ACTION: dict[str, EventAction] = {
    "firing": "trigger",
    "reminder": "trigger",
    "escalation": "trigger",
    "test": "trigger",
    "acknowledged": "acknowledge",
    "resolved": "resolve",
}
SUMMARY_MAX = 1024  # PagerDuty truncates longer summaries
DEDUP_KEY_MAX = 255


def dedup_key(n: Notification) -> str:
    key = f"deliverwatch-test-{n.id}" if n.kind == "test" else n.fingerprint
    return key[:DEDUP_KEY_MAX]


def render_pagerduty(
    n: Notification, routing_key: str, action: EventAction | None = None
) -> dict[str, Any]:
    """The event for ``n`` (``action`` overrides the one its kind maps to)."""
    action = action or ACTION[n.kind]
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": action,
        "dedup_key": dedup_key(n),
    }
    if action != "trigger":
        return event  # acknowledge/resolve need only the key
    details: dict[str, Any] = {"summary": n.summary}
    for section in render.sections(n):
        details[section.title.lower().replace(" ", "_")] = section.lines
    details.update({f"label_{k}": v for k, v in sorted(n.labels.items())})
    event["payload"] = {
        "summary": render.truncate(render.headline(n), SUMMARY_MAX),
        "source": n.domain or "deliverwatch",
        "severity": SEVERITY[n.severity],
        "timestamp": n.created_at.isoformat(),
        "component": n.labels.get("provider") or n.domain or "deliverwatch",
        "group": n.group_key or n.domain or "deliverwatch",
        "class": n.labels.get("alertname") or n.labels.get("rule") or n.kind,
        "custom_details": details,
    }
    event["client"] = "deliverwatch"
    if n.link:
        event["client_url"] = n.link
        event["links"] = [{"href": n.link, "text": "Open in the deliverwatch dashboard"}]
    return event


class PagerDutyChannel:
    def __init__(self, config: PagerDutyChannelConfig, context: ChannelContext) -> None:
        self.name = config.name
        self._config = config
        self._context = context

    async def send(self, notification: Notification) -> None:
        if notification.kind not in ACTION:
            raise PermanentError(f"PagerDuty takes alerts, not a {notification.kind}")
        await self._post(notification, None)
        if notification.kind == "test":
            await self._post(notification, "resolve")

    async def _post(self, notification: Notification, action: EventAction | None) -> None:
        key = self._config.routing_key.get_secret_value()
        body = json.dumps(render_pagerduty(notification, key, action)).encode()
        await self._context.http.post(
            self._config.url,
            body,
            timeout=self._config.timeout,
            max_bytes=self._context.max_response_bytes,
            now=self._context.clock.now(),
        )
