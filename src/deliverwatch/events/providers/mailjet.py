"""Mailjet Event API: one JSON object per event, or a JSON array when "grouped".

Mailjet does not sign events; it sends the HTTP Basic credentials written into the endpoint
URL (``https://user:password@host/…``), checked against ``source.username`` and
``source.password``. Mailjet's ``sent`` means the receiving server accepted the message, so
it becomes ``delivered``; ``blocked`` (never sent) becomes ``dropped``.
"""

from __future__ import annotations

from typing import Any

from deliverwatch.events.classify import classify
from deliverwatch.events.model import BounceClass, Event, EventType
from deliverwatch.events.providers.base import SourceSettings, VerifyContext, WebhookRequest
from deliverwatch.events.providers.batch import BatchProvider, build_event
from deliverwatch.events.providers.credentials import check_authorization
from deliverwatch.events.providers.jsonfields import Fields

TYPES = {
    "sent": EventType.DELIVERED,
    "open": EventType.OPENED,
    "click": EventType.CLICKED,
    "bounce": EventType.BOUNCED,
    "spam": EventType.COMPLAINED,
    "blocked": EventType.DROPPED,
    "unsub": EventType.UNSUBSCRIBED,
}

#: Mailjet's ``error`` values (its error table) that decide the bounce class.
ERRORS: dict[str, BounceClass] = {
    "user unknown": BounceClass.HARD,
    "mailbox inactive": BounceClass.HARD,
    "invalid domain": BounceClass.HARD,
    "no mail host": BounceClass.HARD,
    "quota exceeded": BounceClass.MAILBOX_FULL,
    "relay/access denied": BounceClass.BLOCK,
    "sender blocked": BounceClass.BLOCK,
    "content blocked": BounceClass.BLOCK,
    "policy issue": BounceClass.BLOCK,
    "system issue": BounceClass.SOFT,
    "protocol issue": BounceClass.SOFT,
    "connection issue": BounceClass.SOFT,
    "greylisted": BounceClass.SOFT,
}


class Mailjet(BatchProvider):
    name = "mailjet"

    async def verify(
        self, request: WebhookRequest, source: SourceSettings, ctx: VerifyContext
    ) -> None:
        check_authorization(request, source)

    def item_events(
        self, item: Any, source: SourceSettings, where: str, request: WebhookRequest | None
    ) -> list[Event]:
        fields = Fields(item, where)
        kind = TYPES.get(fields.text("event"))
        if kind is None:
            return []
        error = fields.opt_text("error")
        reply = fields.opt_text("smtp_reply")
        diagnostic = " — ".join(filter(None, (error, fields.opt_text("comment")))) or reply
        bounce_class = None
        if kind is EventType.BOUNCED:
            bounce_class = ERRORS.get((error or "").lower()) or classify(
                None, diagnostic, "hard" if fields.opt_bool("hard_bounce") else "soft"
            )
        return [
            build_event(
                self.name,
                source,
                where=where,
                raw=fields.data,
                type=kind,
                timestamp=fields.time("time"),
                recipient=fields.text("email"),
                message_id=fields.opt_id("MessageID") or fields.opt_text("Message_GUID"),
                bounce_class=bounce_class,
                diagnostic=diagnostic,
                campaign=fields.opt_text("customcampaign") or _campaign_id(fields),
            )
        ]


def _campaign_id(fields: Fields) -> str | None:
    value = fields.opt_id("mj_campaign_id")
    return None if value == "0" else value  # 0: not sent as part of a campaign


PROVIDER = Mailjet()
