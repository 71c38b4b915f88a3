"""Mandrill (Mailchimp Transactional) webhooks: form field ``mandrill_events=<JSON array>``.

``X-Mandrill-Signature`` is the base64 HMAC-SHA1, keyed with the webhook key
(``source.secret``), of the webhook URL exactly as configured in Mandrill (``source.url``,
else the request URL) followed by every POST field's name and value, sorted by name. The
scheme has no timestamp, so staleness cannot be checked; an identical request is refused as
a replay for a day. Mandrill's ``send`` means the receiving server accepted the message, so
it becomes ``delivered`` (Mandrill has no separate delivery event).
"""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl

from deliverwatch.events.classify import classify
from deliverwatch.events.model import Event, EventType
from deliverwatch.events.providers.base import (
    PayloadError,
    SignatureError,
    SourceSettings,
    VerifyContext,
    WebhookRequest,
)
from deliverwatch.events.providers.batch import BatchProvider, build_event
from deliverwatch.events.providers.credentials import hmac_digest, remember_once, same
from deliverwatch.events.providers.jsonfields import Fields, load_json

SIGNATURE = "x-mandrill-signature"
REPLAY_WINDOW = timedelta(days=1)

TYPES = {
    "send": EventType.DELIVERED,
    "deferral": EventType.DEFERRED,
    "hard_bounce": EventType.BOUNCED,
    "soft_bounce": EventType.BOUNCED,
    "open": EventType.OPENED,
    "click": EventType.CLICKED,
    "spam": EventType.COMPLAINED,
    "unsub": EventType.UNSUBSCRIBED,
    "reject": EventType.DROPPED,
}  # inbound and sync (allowlist/denylist) events are skipped
#: ``msg.bounce_description`` as a hint, else the event name's.
HINTS = {
    "bad_mailbox": "hard",
    "invalid_domain": "hard",
    "mailbox_full": "mailbox_full",
    "spam_related": "block",
    "policy_related": "block",
    "hard_bounce": "hard",
    "soft_bounce": "soft",
    "deferral": "soft",
}


def form_fields(body: bytes) -> list[tuple[str, str]]:
    try:
        return parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=20)
    except (UnicodeDecodeError, ValueError):
        raise PayloadError("the body is not a UTF-8 form") from None


class Mandrill(BatchProvider):
    name = "mandrill"

    async def verify(
        self, request: WebhookRequest, source: SourceSettings, ctx: VerifyContext
    ) -> None:
        signature = (request.header(SIGNATURE) or "").strip()
        if not signature:
            raise SignatureError("missing X-Mandrill-Signature", missing=True)
        url = source.url or request.url
        if not source.secret or not url:
            raise SignatureError(f"source '{source.name}' needs a webhook key and url")
        signed = url + "".join(name + value for name, value in sorted(form_fields(request.body)))
        expected = hmac_digest(source.secret.encode(), signed.encode(), "sha1")
        if not same(signature, base64.b64encode(expected)):
            raise SignatureError("Mandrill signature does not match")
        remember_once(ctx, self.name, signature, ctx.now() + REPLAY_WINDOW)

    def items(self, request: WebhookRequest) -> list[Any]:
        values = [value for name, value in form_fields(request.body) if name == "mandrill_events"]
        if len(values) != 1:
            raise PayloadError("expected one mandrill_events form field")
        events = load_json(values[0], "mandrill_events")
        if not isinstance(events, list):
            raise PayloadError("mandrill_events must be a JSON array")
        return events

    def item_events(
        self, item: Any, source: SourceSettings, where: str, request: WebhookRequest | None
    ) -> list[Event]:
        fields = Fields(item, where)
        event = fields.opt_text("event")
        kind = TYPES.get(event or "")
        if kind is None:
            return []
        msg = fields.obj("msg")
        smtp = msg.objects("smtp_events")
        last = smtp[-1] if smtp else None
        diagnostic = msg.opt_text("diag") or (last.opt_text("diag") if last else None)
        bounce_class = None
        if kind in (EventType.BOUNCED, EventType.DEFERRED):
            description = msg.opt_text("bounce_description") or ""
            hint = HINTS.get(description) or HINTS.get(event or "")
            bounce_class = classify(None, diagnostic or description, hint)
        return [
            build_event(
                self.name,
                source,
                where=where,
                raw=fields.data,
                type=kind,
                timestamp=fields.time("ts"),
                recipient=msg.text("email"),
                sender=msg.opt_text("sender"),
                message_id=msg.opt_text("_id") or fields.opt_text("_id"),
                bounce_class=bounce_class,
                diagnostic=diagnostic,
                tags=msg.tags("tags"),
                ip=last.opt_text("source_ip") if last else None,
            )
        ]


PROVIDER = Mandrill()
