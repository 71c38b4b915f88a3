"""SparkPost webhooks: batches ``[{"msys": {"<class>_event": {...}}}, …]``.

SparkPost authenticates with HTTP Basic (``source.username``/``source.password``) or an
OAuth 2.0 bearer token (``source.token``). Its numeric ``bounce_class`` decides our class
when it is specific; generic classes (1, 20, 40, 70) are classified from the reply. The test
batch SparkPost sends when a webhook is created (``[{"msys": {}}]``) parses to no events.
"""

from __future__ import annotations

from typing import Any

from deliverwatch.events.classify import classify
from deliverwatch.events.model import BounceClass, Event, EventType
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
    "injection": EventType.SENT,
    "delivery": EventType.DELIVERED,
    "delay": EventType.DEFERRED,
    "bounce": EventType.BOUNCED,
    "out_of_band": EventType.BOUNCED,
    "policy_rejection": EventType.DROPPED,
    "generation_failure": EventType.DROPPED,
    "generation_rejection": EventType.DROPPED,
    "spam_complaint": EventType.COMPLAINED,
    "open": EventType.OPENED,
    "initial_open": EventType.OPENED,
    "amp_open": EventType.OPENED,
    "amp_initial_open": EventType.OPENED,
    "click": EventType.CLICKED,
    "amp_click": EventType.CLICKED,
    "list_unsubscribe": EventType.UNSUBSCRIBED,
    "link_unsubscribe": EventType.UNSUBSCRIBED,
}  # relay (inbound), A/B test, ingest and SMS events are skipped

#: The event classes a batch item may hold under ``msys``.
CLASSES = ("message_event", "track_event", "unsubscribe_event", "gen_event")

H, S, K = BounceClass.HARD, BounceClass.SOFT, BounceClass.BLOCK
#: SparkPost's bounce classification codes that are specific enough to keep as they are.
BOUNCE_CLASSES: dict[int, BounceClass] = {
    10: H, 30: H, 90: H,
    21: S, 23: S, 24: S, 60: S, 100: S,
    22: BounceClass.MAILBOX_FULL,
    50: K, 51: K, 52: K, 53: K, 54: K,
    80: BounceClass.UNDETERMINED,
}  # fmt: skip
#: Generic codes: the reply decides, with this hint. 25 (admin failure) is handled apart.
GENERIC = {1: None, 20: "soft", 40: "soft", 70: "soft"}
ADMIN_FAILURE = 25  # SparkPost's own policy or suppression list: never sent


class SparkPost(BatchProvider):
    name = "sparkpost"

    async def verify(
        self, request: WebhookRequest, source: SourceSettings, ctx: VerifyContext
    ) -> None:
        check_authorization(request, source)

    def item_events(
        self, item: Any, source: SourceSettings, where: str, request: WebhookRequest | None
    ) -> list[Event]:
        msys = Fields(item, where).obj("msys")
        found = [key for key in CLASSES if msys.get(key) is not None]
        if len(found) > 1:
            raise PayloadError(f"{where}: msys holds more than one event")
        if not found:
            return []  # the creation ping, or a class we do not track
        fields = msys.obj(found[0])
        kind = TYPES.get(fields.text("type"))
        if kind is None:
            return []
        status = fields.opt_id("error_code")
        diagnostic = fields.opt_text("raw_reason") or fields.opt_text("reason")
        bounce_class = None
        if kind in (EventType.BOUNCED, EventType.DEFERRED):
            kind, bounce_class = self._bounce(fields, kind, status, diagnostic)
        return [
            build_event(
                self.name,
                source,
                where=where,
                raw=fields.data,
                type=kind,
                timestamp=fields.time("timestamp"),
                recipient=fields.text("rcpt_to"),
                event_id=fields.opt_id("event_id"),
                sender=fields.opt_text("friendly_from"),
                message_id=fields.opt_text("message_id"),
                bounce_class=bounce_class,
                smtp_status=status,
                diagnostic=diagnostic,
                tags=fields.tags("rcpt_tags"),
                campaign=fields.opt_text("campaign_id"),
                ip=fields.opt_text("sending_ip"),
            )
        ]

    def _bounce(
        self, fields: Fields, kind: EventType, status: str | None, diagnostic: str | None
    ) -> tuple[EventType, BounceClass | None]:
        number = fields.opt_number("bounce_class")
        code = int(number) if number is not None and number.is_integer() else None
        if kind is EventType.DEFERRED:
            return kind, classify(status, diagnostic, "soft")
        if code == ADMIN_FAILURE:
            return EventType.DROPPED, None
        if code in BOUNCE_CLASSES:
            return kind, BOUNCE_CLASSES[code]
        return kind, classify(status, diagnostic, GENERIC.get(code or 1))


PROVIDER = SparkPost()
