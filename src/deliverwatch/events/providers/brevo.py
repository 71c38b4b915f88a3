"""Brevo (ex-Sendinblue) transactional webhooks: one JSON object per event.

Brevo does not sign webhooks; the webhook's ``auth`` setting makes it send either a bearer
token (``source.token``) or HTTP Basic credentials (``source.username``/``source.password``).
Times come from ``ts_epoch`` (milliseconds UTC; some payloads carry seconds, told apart by
size), else ``ts_event`` (seconds UTC); ``date`` is local Paris time and is not used.
"""

from __future__ import annotations

from typing import Any

from deliverwatch.events.classify import classify
from deliverwatch.events.model import Event, EventType
from deliverwatch.events.providers.base import (
    PayloadError,
    SourceSettings,
    VerifyContext,
    WebhookRequest,
)
from deliverwatch.events.providers.batch import BatchProvider, build_event
from deliverwatch.events.providers.credentials import check_authorization
from deliverwatch.events.providers.jsonfields import Fields

TYPES = {
    "request": EventType.SENT,
    "delivered": EventType.DELIVERED,
    "deferred": EventType.DEFERRED,
    "soft_bounce": EventType.BOUNCED,
    "hard_bounce": EventType.BOUNCED,
    "invalid_email": EventType.DROPPED,
    "blocked": EventType.DROPPED,
    "error": EventType.DROPPED,
    "spam": EventType.COMPLAINED,
    "opened": EventType.OPENED,
    "unique_opened": EventType.OPENED,
    "proxy_open": EventType.OPENED,
    "unique_proxy_open": EventType.OPENED,
    "click": EventType.CLICKED,
    "unsubscribed": EventType.UNSUBSCRIBED,
}
HINTS = {"soft_bounce": "soft", "hard_bounce": "hard", "deferred": "soft"}


class Brevo(BatchProvider):
    name = "brevo"

    async def verify(
        self, request: WebhookRequest, source: SourceSettings, ctx: VerifyContext
    ) -> None:
        check_authorization(request, source)

    def item_events(
        self, item: Any, source: SourceSettings, where: str, request: WebhookRequest | None
    ) -> list[Event]:
        fields = Fields(item, where)
        event = fields.text("event")
        kind = TYPES.get(event)
        if kind is None:
            return []
        timestamp = fields.opt_time("ts_epoch") or fields.opt_time("ts_event")
        timestamp = timestamp or fields.opt_time("ts")
        if timestamp is None:
            raise PayloadError(f"{where}: ts_epoch is missing")
        reason = fields.opt_text("reason")
        bounce_class = None
        if kind in (EventType.BOUNCED, EventType.DEFERRED):
            bounce_class = classify(None, reason, HINTS[event])
        tag = fields.opt_text("tag")
        return [
            build_event(
                self.name,
                source,
                where=where,
                raw=fields.data,
                type=kind,
                timestamp=timestamp,
                recipient=fields.text("email"),
                sender=fields.opt_text("sender_email"),
                message_id=fields.opt_text("message-id"),
                bounce_class=bounce_class,
                diagnostic=reason,
                tags=[*fields.strings("tags"), *([tag] if tag else [])],
                ip=fields.opt_text("sending_ip"),
            )
        ]


PROVIDER = Brevo()
