"""Mailgun webhooks: one JSON object ``{"signature": {...}, "event-data": {...}}`` per event.

The signature is the hex HMAC-SHA256 of ``timestamp + token`` keyed with the webhook signing
key (``source.secret``). The timestamp must be within ``max_age_seconds`` and each token is
accepted once. Files may hold webhook bodies or bare ``event-data`` objects (the events API's
``items``), as JSON lines or arrays. Legacy form-encoded webhooks are not supported.
"""

from __future__ import annotations

from typing import Any

from deliverwatch.events.classify import classify
from deliverwatch.events.model import Event, EventType
from deliverwatch.events.providers.base import (
    SignatureError,
    SourceSettings,
    VerifyContext,
    WebhookRequest,
)
from deliverwatch.events.providers.batch import BatchProvider, build_event
from deliverwatch.events.providers.credentials import (
    check_fresh,
    hmac_digest,
    remember_once,
    same,
    signed_time,
)
from deliverwatch.events.providers.jsonfields import Fields, load_json

TYPES = {
    "accepted": EventType.SENT,
    "rejected": EventType.DROPPED,
    "delivered": EventType.DELIVERED,
    "opened": EventType.OPENED,
    "clicked": EventType.CLICKED,
    "unsubscribed": EventType.UNSUBSCRIBED,
    "complained": EventType.COMPLAINED,
}  # "failed" is decided below; "stored" and list events are skipped

#: Permanent failures Mailgun decided itself, without trying the recipient's server.
SUPPRESSED = {"suppress-bounce", "suppress-unsubscribe", "suppress-complaint"}
#: Mailgun's failure ``reason`` as a hint when the reply text is not decisive.
HINTS = {"bounce": "hard", "hardfail": "hard", "espblock": "block", "old": "soft"}


class Mailgun(BatchProvider):
    name = "mailgun"

    async def verify(
        self, request: WebhookRequest, source: SourceSettings, ctx: VerifyContext
    ) -> None:
        data = load_json(request.body)
        signature = data.get("signature") if isinstance(data, dict) else None
        if not isinstance(signature, dict) or not all(
            isinstance(signature.get(k), str) and signature[k]
            for k in ("timestamp", "token", "signature")
        ):
            raise SignatureError("missing Mailgun signature", missing=True)
        if not source.secret:
            raise SignatureError(f"source '{source.name}' has no signing key configured")
        stamp, token = signature["timestamp"], signature["token"]
        expires = check_fresh(signed_time(stamp), source, ctx)
        expected = hmac_digest(source.secret.encode(), (stamp + token).encode(), "sha256")
        if not same(signature["signature"].strip().lower(), expected.hex()):
            raise SignatureError("Mailgun signature does not match")
        remember_once(ctx, self.name, token, expires)

    def items(self, request: WebhookRequest) -> list[Any]:
        return [load_json(request.body)]  # one event per request, never an array

    def item_events(
        self, item: Any, source: SourceSettings, where: str, request: WebhookRequest | None
    ) -> list[Event]:
        outer = Fields(item, where)
        if "event-data" in outer.data or request is not None:
            fields = outer.obj("event-data")
        else:
            fields = outer  # a bare event from the events API, in a file
        event = fields.text("event")
        if event == "failed":
            kind = self._failure(fields)
        elif (found := TYPES.get(event)) is None:
            return []
        else:
            kind = found
        status = fields.opt_obj("delivery-status")
        code = status.opt_id("code") if status else None
        enhanced = status.opt_text("enhanced-code") if status else None
        diagnostic = None
        if status:
            diagnostic = status.opt_text("message") or status.opt_text("description")
        bounce_class = None
        if kind in (EventType.BOUNCED, EventType.DEFERRED):
            reason = fields.opt_text("reason") or ""
            hint = "soft" if kind is EventType.DEFERRED else HINTS.get(reason)
            bounce_class = classify(" ".join(filter(None, (code, enhanced))), diagnostic, hint)
        message = fields.opt_obj("message")
        headers = message.opt_obj("headers") if message else None
        envelope = fields.opt_obj("envelope")
        campaigns = [c.opt_text("name") or c.opt_id("id") for c in fields.objects("campaigns")]
        return [
            build_event(
                self.name,
                source,
                where=where,
                raw=fields.data,
                type=kind,
                timestamp=fields.time("timestamp"),
                recipient=fields.text("recipient"),
                event_id=fields.opt_text("id"),
                sender=headers.opt_text("from") if headers else None,
                message_id=headers.opt_text("message-id") if headers else None,
                bounce_class=bounce_class,
                smtp_status=enhanced or code,
                diagnostic=diagnostic,
                tags=fields.tags("tags"),
                campaign=next(filter(None, campaigns), None),
                ip=envelope.opt_text("sending-ip") if envelope else None,
            )
        ]

    def _failure(self, fields: Fields) -> EventType:
        if fields.opt_text("severity") == "temporary":
            return EventType.DEFERRED  # Mailgun retries; a final failure comes as "permanent"
        return EventType.DROPPED if fields.opt_text("reason") in SUPPRESSED else EventType.BOUNCED


PROVIDER = Mailgun()
