"""Postmark webhooks: one JSON object per request, told apart by ``RecordType``.

Postmark does not sign webhooks; it sends the HTTP Basic credentials written into the
webhook URL (``https://user:password@host/…``), checked against ``source.username`` and
``source.password`` (a bearer ``source.token`` sent as a custom header works too).
"""

from __future__ import annotations

from typing import Any

from deliverwatch.events.classify import classify
from deliverwatch.events.model import Event, EventType
from deliverwatch.events.providers.base import SourceSettings, VerifyContext, WebhookRequest
from deliverwatch.events.providers.batch import BatchProvider, build_event
from deliverwatch.events.providers.credentials import check_authorization
from deliverwatch.events.providers.jsonfields import Fields, load_json

B, D = EventType.BOUNCED, EventType.DROPPED

#: RecordType → (type, timestamp field, recipient field); Bounce and SubscriptionChange vary.
RECORDS: dict[str, tuple[EventType, str, str]] = {
    "Delivery": (EventType.DELIVERED, "DeliveredAt", "Recipient"),
    "Bounce": (B, "BouncedAt", "Email"),
    "SpamComplaint": (EventType.COMPLAINED, "BouncedAt", "Email"),
    "Open": (EventType.OPENED, "ReceivedAt", "Recipient"),
    "Click": (EventType.CLICKED, "ReceivedAt", "Recipient"),
    "SubscriptionChange": (EventType.UNSUBSCRIBED, "ChangedAt", "Recipient"),
}

#: Bounce ``Type`` → (type, hint for :func:`classify`). Types missing here (Subscribe,
#: AutoResponder, AddressChange, OpenRelayTest, InboundError) are not delivery outcomes.
BOUNCES: dict[str, tuple[EventType, str | None]] = {
    "HardBounce": (B, "hard"),
    "BadEmailAddress": (B, "hard"),
    "SoftBounce": (B, "soft"),
    "DnsError": (B, "soft"),
    "ChallengeVerification": (B, "soft"),
    "Transient": (EventType.DEFERRED, "soft"),
    "SpamNotification": (B, "block"),
    "Blocked": (B, "block"),
    "VirusNotification": (B, "block"),
    "DMARCPolicy": (B, "block"),
    "Unknown": (B, None),
    "SpamComplaint": (EventType.COMPLAINED, None),
    "Unsubscribe": (EventType.UNSUBSCRIBED, None),
    "ManuallyDeactivated": (D, None),
    "Unconfirmed": (D, None),
    "SMTPApiError": (D, None),
    "TemplateRenderingFailed": (D, None),
}


class Postmark(BatchProvider):
    name = "postmark"

    async def verify(
        self, request: WebhookRequest, source: SourceSettings, ctx: VerifyContext
    ) -> None:
        check_authorization(request, source)

    def items(self, request: WebhookRequest) -> list[Any]:
        return [load_json(request.body)]

    def item_events(
        self, item: Any, source: SourceSettings, where: str, request: WebhookRequest | None
    ) -> list[Event]:
        fields = Fields(item, where)
        record = fields.text("RecordType")
        if record not in RECORDS:
            return []
        kind, time_key, recipient_key = RECORDS[record]
        bounce_class, diagnostic = None, fields.opt_text("Details")
        if record == "Bounce":
            outcome = BOUNCES.get(fields.text("Type"))
            if outcome is None:
                return []
            kind, hint = outcome
            if kind in (EventType.BOUNCED, EventType.DEFERRED):
                bounce_class = classify(None, diagnostic or fields.opt_text("Description"), hint)
        elif record == "SubscriptionChange" and not self._opted_out(fields):
            return []
        tag = fields.opt_text("Tag")
        return [
            build_event(
                self.name,
                source,
                where=where,
                raw=fields.data,
                type=kind,
                timestamp=fields.time(time_key),
                recipient=fields.text(recipient_key),
                event_id=fields.opt_id("ID"),
                sender=fields.opt_text("From"),
                message_id=fields.opt_text("MessageID"),
                bounce_class=bounce_class,
                diagnostic=diagnostic,
                tags=[tag] if tag else [],
            )
        ]

    @staticmethod
    def _opted_out(fields: Fields) -> bool:
        """Only a recipient's own opt-out is an unsubscription: Postmark's automatic
        suppressions repeat bounces and complaints already reported, and a reactivation
        (``SuppressSending: false``) is not an event we track."""
        return bool(fields.opt_bool("SuppressSending")) and fields.opt_text("Origin") == "Recipient"


PROVIDER = Postmark()
