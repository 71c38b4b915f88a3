"""Resend webhooks, delivered and signed by Svix: ``{"type": "email.*", "data": {...}}``.

Svix signs ``svix-id + "." + svix-timestamp + "." + body`` with HMAC-SHA256; the key is the
base64 text after ``whsec_`` in the signing secret (``source.secret``). ``svix-signature``
lists space-separated ``v1,<base64>`` signatures (several during key rotation); one must
match. The timestamp must be within ``max_age_seconds`` and each ``svix-id`` is accepted
once. Bounces carry SES-style ``type``/``subType`` fields and are classified like SES's.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from deliverwatch.events.classify import classify
from deliverwatch.events.model import Event, EventType, stable_event_id
from deliverwatch.events.providers.base import (
    PayloadError,
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
from deliverwatch.events.providers.ses import bounce_outcome

TYPES = {
    "email.sent": EventType.SENT,
    "email.delivered": EventType.DELIVERED,
    "email.delivery_delayed": EventType.DEFERRED,
    "email.bounced": EventType.BOUNCED,
    "email.failed": EventType.DROPPED,
    "email.complained": EventType.COMPLAINED,
    "email.opened": EventType.OPENED,
    "email.clicked": EventType.CLICKED,
}  # email.scheduled, email.received, contact.* and domain.* are skipped


def signing_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_…`` secret; ValueError when it is not one."""
    try:
        return base64.b64decode(secret.strip().removeprefix("whsec_"), validate=True)
    except binascii.Error:
        raise ValueError("not a Svix secret") from None


class Resend(BatchProvider):
    name = "resend"

    async def verify(
        self, request: WebhookRequest, source: SourceSettings, ctx: VerifyContext
    ) -> None:
        msg_id, stamp = request.header("svix-id"), request.header("svix-timestamp")
        header = request.header("svix-signature")
        if not msg_id or not stamp or not header:
            raise SignatureError("missing Svix signature headers", missing=True)
        try:
            key = signing_key(source.secret or "")
        except ValueError:
            key = b""
        if not key:
            raise SignatureError(f"source '{source.name}' has no valid whsec_ secret")
        expires = check_fresh(signed_time(stamp), source, ctx)
        signed = f"{msg_id}.{stamp}.".encode() + request.body
        expected = base64.b64encode(hmac_digest(key, signed, "sha256"))
        matches = [
            same(value, expected)
            for version, _, value in (part.partition(",") for part in header.split())
            if version == "v1"
        ]
        if not any(matches):
            raise SignatureError("Svix signature does not match")
        remember_once(ctx, self.name, msg_id, expires)

    def items(self, request: WebhookRequest) -> list[Any]:
        return [load_json(request.body)]

    def item_events(
        self, item: Any, source: SourceSettings, where: str, request: WebhookRequest | None
    ) -> list[Event]:
        fields = Fields(item, where)
        kind = TYPES.get(fields.text("type"))
        if kind is None:
            return []
        data = fields.obj("data")
        recipients = data.strings("to")
        if not recipients:
            raise PayloadError(f"{where}: data.to is missing")
        bounce, failed = data.opt_obj("bounce"), data.opt_obj("failed")
        diagnostic = bounce.opt_text("message") if bounce else None
        diagnostic = diagnostic or (failed.opt_text("reason") if failed else None)
        bounce_class = None
        if kind is EventType.BOUNCED and bounce:
            kind, bounce_class = bounce_outcome(
                bounce.opt_text("type"), bounce.opt_text("subType"), None, diagnostic
            )
        elif kind in (EventType.BOUNCED, EventType.DEFERRED):
            hint = "soft" if kind is EventType.DEFERRED else None
            bounce_class = classify(None, diagnostic, hint)
        # svix-id is the event's id; a file has no headers, so the payload's hash stands in.
        svix_id = request.header("svix-id") if request else None
        events = []
        for recipient in recipients:
            if svix_id:
                event_id = svix_id if len(recipients) == 1 else f"{svix_id}:{recipient}"
            else:
                event_id = stable_event_id(self.name, {"event": fields.data, "to": recipient})
            events.append(
                build_event(
                    self.name,
                    source,
                    where=where,
                    raw=fields.data,
                    type=kind,
                    timestamp=fields.time("created_at"),
                    recipient=recipient,
                    event_id=event_id,
                    sender=data.opt_text("from"),
                    message_id=data.opt_text("email_id"),
                    bounce_class=bounce_class,
                    diagnostic=diagnostic,
                    tags=_tags(data),
                )
            )
        return events


def _tags(data: Fields) -> list[str]:
    """Resend tags, given as ``{"name": "value"}`` or ``[{"name": …, "value": …}]``."""
    if isinstance(data.get("tags"), list):
        pairs = [(tag.text("name"), tag.opt_text("value")) for tag in data.objects("tags")]
    else:
        tags = data.opt_obj("tags")
        pairs = [(key, tags.opt_text(key)) for key in tags.data] if tags else []
    return [f"{name}:{value}" if value else name for name, value in pairs]


PROVIDER = Resend()
