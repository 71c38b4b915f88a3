"""Twilio SendGrid Event Webhook: JSON array batches, Signed Event Webhook (ECDSA P-256).

SendGrid signs ``timestamp header + raw body`` with ECDSA over SHA-256 and sends the DER
signature base64-encoded in ``X-Twilio-Email-Event-Webhook-Signature``, the timestamp in
``X-Twilio-Email-Event-Webhook-Timestamp``. The verification key (``source.public_key``) is
the base64 DER public key shown in SendGrid's Mail Settings; PEM is accepted too.
"""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final

from deliverwatch.events.classify import classify
from deliverwatch.events.model import Event, EventType
from deliverwatch.events.providers.base import (
    SignatureError,
    SourceSettings,
    VerifyContext,
    WebhookRequest,
)
from deliverwatch.events.providers.batch import BatchProvider, build_event
from deliverwatch.events.providers.credentials import check_fresh, remember_once, signed_time
from deliverwatch.events.providers.jsonfields import Fields

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec

SIGNATURE: Final = "x-twilio-email-event-webhook-signature"
TIMESTAMP: Final = "x-twilio-email-event-webhook-timestamp"

TYPES: Final = {
    "processed": EventType.SENT,
    "delivered": EventType.DELIVERED,
    "deferred": EventType.DEFERRED,
    "bounce": EventType.BOUNCED,
    "dropped": EventType.DROPPED,
    "spamreport": EventType.COMPLAINED,
    "open": EventType.OPENED,
    "click": EventType.CLICKED,
    "unsubscribe": EventType.UNSUBSCRIBED,
    "group_unsubscribe": EventType.UNSUBSCRIBED,
}  # group_resubscribe and unknown kinds are acknowledged and skipped

#: SendGrid's own ``bounce_classification`` as a hint when the reply text is not decisive.
HINTS: Final = {
    "invalid address": "hard",
    "technical": "soft",
    "content": "block",
    "reputation": "block",
    "frequency or volume": "block",
    "mailbox unavailable": "soft",
}

#: Event kinds whose ``ip`` is the sending IP (on opens and clicks it is the reader's).
SENDING_IP: Final = {EventType.DELIVERED, EventType.DEFERRED, EventType.BOUNCED}
_CLASSIFIED: Final = (EventType.BOUNCED, EventType.DEFERRED)


@lru_cache(maxsize=32)
def load_key(text: str) -> ec.EllipticCurvePublicKey:
    """The ECDSA key from base64 DER (as SendGrid shows it) or PEM; ValueError otherwise."""
    # Imported here: a file import (its reader processes) never verifies, and the library
    # takes ~30 ms to import.
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    text = text.strip()
    if text.startswith("-----BEGIN"):
        key = serialization.load_pem_public_key(text.encode())
    else:
        try:
            der = base64.b64decode("".join(text.split()), validate=True)
        except binascii.Error:
            raise ValueError("not base64") from None
        key = serialization.load_der_public_key(der)
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("not an ECDSA P-256 key")
    return key


class SendGrid(BatchProvider):
    name = "sendgrid"

    async def verify(
        self, request: WebhookRequest, source: SourceSettings, ctx: VerifyContext
    ) -> None:
        from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        signature, stamp = request.header(SIGNATURE), request.header(TIMESTAMP)
        if not signature or not stamp:
            raise SignatureError("missing SendGrid signature headers", missing=True)
        try:
            key = load_key(source.public_key or "")
        except (ValueError, UnsupportedAlgorithm):
            raise SignatureError(f"source '{source.name}' has no valid public_key") from None
        expires = check_fresh(signed_time(stamp), source, ctx)
        try:
            raw_signature = base64.b64decode(signature.strip(), validate=True)
            key.verify(raw_signature, stamp.encode() + request.body, ec.ECDSA(hashes.SHA256()))
        except (binascii.Error, ValueError, InvalidSignature):
            raise SignatureError("SendGrid signature does not match") from None
        remember_once(ctx, self.name, signature.strip(), expires)

    def item_events(
        self, item: Any, source: SourceSettings, where: str, request: WebhookRequest | None
    ) -> list[Event]:
        fields = Fields(item, where)
        kind = TYPES.get(fields.text("event"))
        if kind is None:
            return []
        # The fields every tracked kind reads, in one call (this runs for every event).
        status, reason, message_id, campaign, email, event_id = fields.opt_texts(
            "status", "reason", "sg_message_id", "marketing_campaign_name", "email", "sg_event_id"
        )
        diagnostic = reason or fields.opt_text("response")
        bounce_class = None
        if kind in _CLASSIFIED:
            hint = "block" if fields.opt_text("type") == "blocked" else None
            label = (fields.opt_text("bounce_classification") or "").lower()
            bounce_class = classify(status, diagnostic, hint or HINTS.get(label))
        campaign = campaign or fields.opt_id("marketing_campaign_id")
        return [
            build_event(
                self.name,
                source,
                where=where,
                raw=fields.data,
                type=kind,
                timestamp=fields.time("timestamp"),
                recipient=email or fields.text("email"),
                event_id=event_id,
                # The part before ".filter…" is the X-Message-Id shared by all of a message's
                # events; processed events append the filter node.
                message_id=message_id.partition(".filter")[0] if message_id else None,
                bounce_class=bounce_class,
                smtp_status=status,
                diagnostic=diagnostic,
                tags=fields.tags("category"),
                campaign=campaign,
                ip=fields.opt_text("ip") if kind in SENDING_IP else None,
            )
        ]


PROVIDER = SendGrid()
